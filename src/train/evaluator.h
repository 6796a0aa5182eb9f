// Evaluation: mean loss over a fixed set of batches (the same batches at every eval, so evals
// are comparable), and the routing statistics of each MoE layer averaged over them.
#pragma once
#include <cstdint>
#include <vector>

#include "data/batch_sampler.h"
#include "model/model.h"

namespace moe {

struct LayerRouting {
  int64_t layer = 0;
  std::vector<double> expert_usage;  // (E) share of assignments
  double entropy = 0.0;              // nats
  double dropped_fraction = 0.0;
  double aux_loss = 0.0;
};

struct EvalResult {
  double loss = 0.0;  // mean cross-entropy
  int64_t tokens = 0;
  std::vector<LayerRouting> routing;
};

class Evaluator {
 public:
  // tokens/targets: (B, T) I32 scratch tensors the batches are written into.
  Evaluator(Model& model, Tensor tokens, Tensor targets);
  // `iters` random-window batches drawn with keys (key, i).
  EvalResult random_windows(const BatchSampler& sampler, int64_t iters, uint64_t key,
                            float temperature);
  // Non-overlapping block_size windows from the start, in order; max_batches <= 0: all.
  EvalResult contiguous(const BatchSampler& sampler, int64_t max_batches, float temperature);

 private:
  Model& model_;
  Tensor tokens_, targets_;
  void accumulate(EvalResult& r, const LossInfo& loss, int64_t rows, int64_t seq);
  void finish(EvalResult& r, int64_t batches);
};

}  // namespace moe
