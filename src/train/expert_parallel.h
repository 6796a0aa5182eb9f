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
//
// Checkpoints hold the single process's files: rank 0 gathers every expert (gather_whole), and a
// process that loads one reads its own slice by name.
#pragma once
#include <memory>
#include <span>
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

  // On world rank 0, whole (layout.numel()) := `values` (params.numel(), laid out as this rank's
  // table `params`: its flat weights or an AdamW moment) of the whole model, laid out as `layout`,
  // the table of the model holding every expert: rank 0's own parameters, and every other expert
  // from the rank of the first group that holds it (each group holds the same values). Every rank
  // calls it; the other groups return at once, and `whole` is only written on rank 0.
  void gather_whole(std::span<float> whole, const Tensor& values, const ParamTable& params,
                    const ParamTable& layout);

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
