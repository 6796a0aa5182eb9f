// Expert-parallel training (dist.expert_parallel = P): the experts of every MoE layer are split
// across P processes. Groups of P consecutive ranks are expert-parallel groups (group rank p holds
// experts [p E/P, (p+1) E/P)); the N/P groups are data-parallel replicas of each other. Every rank
// trains its own micro-batches as in data parallel (train/data_parallel.h); in an MoE layer rows
// travel to the rank holding their expert within the group and back (ExpertExchange, below).
//
// Gradients: every parameter a rank holds whole (attention, norms, embeddings, routers, shared
// experts) is summed over all N ranks; an expert's gradient already holds the rows of every rank
// of its group, and is summed over the N/P ranks that hold the same experts (same group rank).
// The sum is then the single process's, so every copy of a parameter gets the same update.
#pragma once
#include <memory>
#include <vector>

#include "core/arena.h"
#include "dist/communicator.h"
#include "nn/expert_exchange.h"
#include "nn/params.h"

namespace moe {

// Refuses an expert-parallel size that does not fit the job or the model, naming the setting.
void check_expert_parallel(int64_t size, int ranks, int64_t n_experts);

class ExpertParallel final : public ExpertExchange {
 public:
  // `world`'s ranks in groups of `size` (check_expert_parallel first); every rank must call it.
  ExpertParallel(Communicator& world, int64_t size, int64_t n_experts);

  ExpertExchangePlan plan(Tensor local_offsets, const Tensor& expert_offsets) override;
  void to_experts(Tensor to_experts, const Tensor& rows, const ExpertExchangePlan& plan) override;
  void from_experts(Tensor rows, const Tensor& from_experts,
                    const ExpertExchangePlan& plan) override;

  // gradients := their sums (above), in rank order, through host staging.
  void sum_gradients(const ParamTable& params);
  // The squared L2 norm of the whole model's gradients (after sum_gradients): what this rank
  // holds whole, plus every expert slice of its group. One host read per run of parameters.
  double grad_sum_squares(const ParamTable& params);

  // The ranks of this rank's group, and the ranks holding the same experts.
  Communicator& group() { return *group_; }
  Communicator& replicas() { return *replicas_; }

 private:
  Communicator& world_;
  std::unique_ptr<Communicator> group_, replicas_;
  std::vector<int64_t> expert_counts_;  // (E) rows per expert, this rank's last plan
  std::vector<float> send_, recv_;      // host staging of rows
  std::vector<float> bucket_;           // host staging of gradients
  std::unique_ptr<Arena> arena_;        // on the parameters' device, for one sum of squares
  Tensor square_sum_;                   // (1) F64
};

}  // namespace moe
