// Data-parallel training: every rank holds the whole model and optimizer state, trains on its own
// micro-batches of each step, and the ranks sum their gradients and statistics before the update,
// so every rank applies the same update to the same weights.
//
// A step of a run on N ranks with train.grad_accum = A per rank is a step of a single process
// with grad_accum A * N: rank r runs that step's micro-batches r * A .. r * A + A - 1 (batches,
// dropout and router noise drawn from the same keys), each with the loss scale 1 / (A * N), so
// the summed gradient is the single process's. Per-micro-batch quantities (the load-balancing
// loss over a micro-batch's tokens, expert capacity) are the single process's too, which a
// single process with batch_size N * B would not reproduce.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "model/model.h"
#include "nn/params.h"
#include "train/gradient_buckets.h"

namespace moe {

// values := their sum over comm's ranks, at most kStagingBytes at a time: in place where comm
// takes values' memory (Communicator::takes), else staged through the host buffer `bucket`.
void all_reduce_staged(Communicator& comm, const Tensor& values, std::vector<float>& bucket);

class DataParallel {
 public:
  explicit DataParallel(Communicator& comm) : comm_(comm) {}
  int rank() const { return comm_.rank(); }
  int ranks() const { return comm_.size(); }
  // Rank 0 alone prints progress and writes the metrics log, the report and checkpoints.
  bool leader() const { return comm_.rank() == 0; }

  // Refuses to start when the ranks run different binaries or different runs (`run` is the
  // run's configuration and options as text): one error, the same on every rank.
  void check_same_run(const std::string& run) const;
  // From now on, sums the gradients in buckets of `bucket_mib` during the backward pass of each
  // step's last micro-batch (train/gradient_buckets.h), where that is possible: several ranks,
  // bucket_mib > 0, gradients in host memory, and a communicator that runs collectives on two
  // threads at once. Otherwise sum_gradients keeps summing after the backward pass. Every rank
  // must call it.
  void overlap_gradient_sums(const ParamTable& params, double bucket_mib);
  // The hook for the backward of a step's last micro-batch: empty unless sums overlap.
  Model::GradientsDone gradients_done_hook();
  // gradients := their sum over the ranks, in rank order: waits for the buckets when sums overlap
  // the backward pass, else sums after it (all_reduce_staged).
  void sum_gradients(const ParamTable& params);
  // values := their sum over the ranks, in rank order.
  void sum(std::span<double> values);
  // What the collectives have done since the start (Communicator::traffic), both threads
  // together, and of their seconds those that ran while the backward pass computed: the bucket
  // sums' time less the time the step waited for them.
  struct CommTotals {
    int64_t bytes_sent = 0;
    double seconds = 0.0;
    double hidden_seconds = 0.0;
  };
  CommTotals comm_totals() const;
  // The stop signal of the lowest rank that received one (0: none), the same on every rank, so
  // all stop after the same step.
  int agreed_stop_signal(int local_signal) const;

 private:
  Communicator& comm_;
  std::vector<float> bucket_;  // (at most kStagingBytes / 4) host copy of a gradient piece
  std::unique_ptr<GradientBuckets> buckets_;  // while sums overlap the backward pass
};

}  // namespace moe
