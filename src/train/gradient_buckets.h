// Data-parallel gradient sums in buckets, overlapped with the backward pass (the scheme of
// PyTorch DDP, Li et al. 2020, arXiv 2006.15704 §3.2). The flat gradient buffer is cut at
// parameter boundaries into buckets of about dist.bucket_mib, walking the parameters in reverse
// registration order, the order in which the backward pass finishes them. On the last
// micro-batch of a step Model::backward reports each tail of the buffer it is done with
// (Model::GradientsDone); every bucket inside that tail goes to a communication thread, which sums
// it over the ranks (Communicator::all_reduce_sum, in rank order) while the backward of the
// earlier layers computes. The step waits for the last bucket before the gradient norm, clipping
// and the optimizer.
//
// Each element is the same rank-order sum whatever the buckets, so the result is the bits of the
// sum after the backward pass (train/data_parallel.h) for any bucket size.
//
// The thread runs its collectives on its own communicator (split from the job's, so they never
// interleave with the main thread's), which needs an MPI with MPI_THREAD_MULTIPLE
// (Communicator::concurrent_threads). Open MPI's collectives progress only inside MPI calls;
// here the thread is inside one for the whole sum, which is what makes it overlap. The gradients
// must be host memory (Device::CPU): they are summed in place, with no staging copy.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "dist/communicator.h"
#include "nn/params.h"
#include "train/optimizer.h"

namespace moe {

// The buckets of `params`' flat buffer for buckets of `bucket_bytes`, in the order they are sent:
// from the end of the buffer to its start. A bucket closes at the first parameter boundary where
// it holds at least bucket_bytes of F32 gradients, so only a bucket's last parameter takes it
// past the size, and together the buckets cover every element exactly once.
std::vector<ElementRange> plan_gradient_buckets(const ParamTable& params, int64_t bucket_bytes);

class GradientBuckets {
 public:
  // Every rank must construct it (it splits `comm`) with the same table and size.
  GradientBuckets(Communicator& comm, const ParamTable& params, int64_t bucket_bytes);
  // Joins the thread once the collective it is in, if any, returns. That never waits for ever:
  // every rank hands the same buckets in the same order, so a rank whose step failed has handed a
  // prefix of the others' (which sum it with it) before it ends the job.
  ~GradientBuckets();
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // Model::backward's hook on a step's last micro-batch: hands every bucket inside
  // [first, numel) not yet handed to the thread, in plan order.
  void gradients_done(int64_t first);
  // Hands any bucket not yet handed (a backward without the hook), waits until every bucket of the
  // step is summed, and makes ready for the next step. Rethrows the thread's error.
  void wait();

  const std::vector<ElementRange>& buckets() const { return buckets_; }
  // Totals since construction, read between steps: the thread's time inside collectives and bytes
  // sent (Communicator::traffic of its communicator), and the time wait() blocked.
  Communicator::Traffic traffic() const;
  double wait_seconds() const { return wait_seconds_; }

 private:
  void serve();  // the thread: sums buckets in plan order as they are handed

  std::unique_ptr<Communicator> comm_;  // the thread's communicator
  Tensor grads_;                        // (numel) the flat gradients, host memory
  std::vector<ElementRange> buckets_;   // in plan order
  double wait_seconds_ = 0.0;

  mutable std::mutex mutex_;
  std::condition_variable handed_, summed_;
  size_t handed_count_ = 0;  // buckets handed to the thread this step
  size_t summed_count_ = 0;  // buckets it has summed this step
  bool stop_ = false;
  std::exception_ptr error_;  // the thread's, rethrown by wait()
  std::thread thread_;        // started last in the constructor
};

}  // namespace moe
