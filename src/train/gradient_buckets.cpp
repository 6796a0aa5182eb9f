#include "train/gradient_buckets.h"

#include <chrono>

#include "core/check.h"

namespace moe {

std::vector<ElementRange> plan_gradient_buckets(const ParamTable& params, int64_t bucket_bytes) {
  MOE_CHECK(bucket_bytes > 0, "gradient buckets: bucket size ", bucket_bytes, " bytes");
  const auto limit = static_cast<int64_t>(bucket_bytes / sizeof(float) +
                                          (bucket_bytes % sizeof(float) != 0));  // elements
  std::vector<ElementRange> buckets;
  int64_t end = params.numel();
  const auto& all = params.params();
  for (auto p = all.rbegin(); p != all.rend(); ++p)
    if (end - p->offset >= limit || p->offset == 0) {
      buckets.push_back({p->offset, end});
      end = p->offset;
    }
  return buckets;
}

GradientBuckets::GradientBuckets(Communicator& comm, const ParamTable& params, int64_t bucket_bytes)
    : comm_(comm.split(0, comm.rank())),
      grads_(params.flat_grads()),
      buckets_(plan_gradient_buckets(params, bucket_bytes)) {
  MOE_CHECK(grads_.device == Device::CPU,
            "gradient buckets: the gradients must be host memory, they are on ",
            device_name(grads_.device));
  MOE_CHECK(comm.concurrent_threads(),
            "gradient buckets: the communicator cannot run collectives on two threads at once");
  thread_ = std::thread([this] { serve(); });
}

GradientBuckets::~GradientBuckets() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  handed_.notify_one();
  thread_.join();
}

void GradientBuckets::gradients_done(int64_t first) {
  size_t count = handed_count_;
  while (count < buckets_.size() && buckets_[count].begin >= first)
    ++count;
  if (count == handed_count_) return;
  {
    const std::lock_guard lock(mutex_);
    handed_count_ = count;
  }
  handed_.notify_one();
}

void GradientBuckets::wait() {
  gradients_done(0);
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  summed_.wait(lock, [this] { return summed_count_ == buckets_.size() || error_; });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (error_) std::rethrow_exception(error_);
  handed_count_ = 0;
  summed_count_ = 0;
}

Communicator::Traffic GradientBuckets::traffic() const {
  const std::lock_guard lock(mutex_);
  return comm_->traffic();
}

void GradientBuckets::serve() {
  std::unique_lock lock(mutex_);
  for (;;) {
    handed_.wait(lock, [this] { return stop_ || summed_count_ < handed_count_; });
    if (stop_) return;
    const ElementRange bucket = buckets_[summed_count_];
    lock.unlock();
    try {
      comm_->all_reduce_sum(grads_.rows(bucket.begin, bucket.end));
    } catch (...) {
      lock.lock();
      error_ = std::current_exception();
      summed_.notify_one();
      return;
    }
    lock.lock();
    ++summed_count_;
    if (summed_count_ == buckets_.size()) summed_.notify_one();
  }
}

}  // namespace moe
