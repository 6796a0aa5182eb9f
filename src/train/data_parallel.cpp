#include "train/data_parallel.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/sha256.h"
#include "model/host_staging.h"
#include "ops/elementwise.h"

namespace moe {

namespace {

// The 64 hex digits of a SHA-256 digest as I32 values, for an all_gather.
std::vector<int32_t> digest_values(const std::string& hex) {
  return {hex.begin(), hex.end()};
}

}  // namespace

void DataParallel::check_same_run(const std::string& run) const {
  if (ranks() == 1) return;
  // (2, 64): the binary's digest, then the run's.
  std::vector<int32_t> mine = digest_values(sha256_file_hex("/proc/self/exe"));
  const std::vector<int32_t> run_digest = digest_values(sha256_hex(run));
  mine.insert(mine.end(), run_digest.begin(), run_digest.end());
  const int64_t n = std::ssize(mine);
  std::vector<int32_t> all(static_cast<size_t>(n * ranks()));  // (ranks, 2, 64)
  comm_.all_gather(cpu_tensor(all.data(), {n * ranks()}), cpu_tensor(mine.data(), {n}));
  for (int r = 1; r < ranks(); ++r) {
    const auto theirs = all.begin() + r * n;
    MOE_CHECK(std::equal(all.begin(), all.begin() + n / 2, theirs), "rank ", r,
              " runs another moe binary than rank 0; every process of the job must run the same "
              "build");
    MOE_CHECK(std::equal(all.begin() + n / 2, all.begin() + n, theirs + n / 2), "rank ", r,
              " was given another run than rank 0 (configuration, flags or --out); every process "
              "of the job must get the same command line");
  }
}

void all_reduce_staged(Communicator& comm, const Tensor& values, std::vector<float>& bucket) {
  const int64_t piece = std::min<int64_t>(values.numel(), kStagingBytes / sizeof(float));
  bucket.resize(static_cast<size_t>(piece));
  for (int64_t first = 0; first < values.numel(); first += piece) {
    const Tensor part = values.rows(first, std::min(first + piece, values.numel()));
    if (comm.takes(part.device)) {  // host memory, or a device's with NCCL: no copies
      comm.all_reduce_sum(part);
      continue;
    }
    const Tensor host = cpu_tensor(bucket.data(), part.shape);
    ops::copy(host, part);
    comm.all_reduce_sum(host);
    ops::copy(part, host);
  }
}

void DataParallel::overlap_gradient_sums(const ParamTable& params, double bucket_mib) {
  if (ranks() == 1 || bucket_mib <= 0 || params.device() != Device::CPU ||
      !comm_.concurrent_threads())
    return;
  buckets_ = std::make_unique<GradientBuckets>(
      comm_, params, static_cast<int64_t>(std::ceil(bucket_mib * (1 << 20))));
}

Model::GradientsDone DataParallel::gradients_done_hook() {
  if (!buckets_) return nullptr;
  return [this](int64_t first) { buckets_->gradients_done(first); };
}

void DataParallel::sum_gradients(const ParamTable& params) {
  if (ranks() == 1) return;
  if (buckets_)
    buckets_->wait();
  else
    all_reduce_staged(comm_, params.flat_grads(), bucket_);
}

DataParallel::CommTotals DataParallel::comm_totals() const {
  CommTotals totals{comm_.traffic().bytes_sent, comm_.traffic().seconds, 0.0};
  if (buckets_) {
    const Communicator::Traffic sums = buckets_->traffic();
    totals.bytes_sent += sums.bytes_sent;
    totals.seconds += sums.seconds;
    totals.hidden_seconds = sums.seconds - buckets_->wait_seconds();
  }
  return totals;
}

void DataParallel::sum(std::span<double> values) {
  if (ranks() == 1) return;
  comm_.all_reduce_sum(cpu_tensor(values.data(), {std::ssize(values)}));
}

int DataParallel::agreed_stop_signal(int local_signal) const {
  if (ranks() == 1) return local_signal;
  int32_t mine = local_signal;
  std::vector<int32_t> all(static_cast<size_t>(ranks()));  // (ranks)
  comm_.all_gather(cpu_tensor(all.data(), {ranks()}), cpu_tensor(&mine, {1}));
  for (int32_t s : all)
    if (s != 0) return s;
  return 0;
}

}  // namespace moe
