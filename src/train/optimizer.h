// AdamW over the parameter table: moments in two flat buffers laid out like the parameters;
// weight decay only for parameters flagged for it (matrices and embeddings, as nanoGPT).
#pragma once
#include "config/config.h"
#include "core/arena.h"
#include "nn/params.h"
#include "ops/device.h"

namespace moe {

class AdamW {
 public:
  // The moments live on the parameters' device. ArenaMode::Measure: they are only counted
  // (bytes_reserved), for memory estimates.
  AdamW(ParamTable& params, const TrainConfig& cfg, ArenaMode mode = ArenaMode::Allocate);
  // One update with learning rate lr; step is the 1-based update count (bias correction).
  void step(float lr, int64_t step);
  Tensor m() const { return m_; }  // (numel)
  Tensor v() const { return v_; }  // (numel)
  size_t bytes_reserved() const { return arena_.bytes_reserved(); }

 private:
  ParamTable& params_;
  TrainConfig cfg_;
  Arena arena_;
  Tensor m_, v_;
};

// sum (1) F64 = the sum of squares of all gradients, on their device (the squared global L2 norm).
void grad_sum_squares(Tensor sum, const ParamTable& params);
// Clipping by global norm (torch.nn.utils.clip_grad_norm_): when max_norm > 0 and `norm` (the
// gradients' L2 norm, from grad_sum_squares) exceeds it, scales the gradients by
// max_norm / (norm + 1e-6).
void clip_grads(ParamTable& params, double norm, float max_norm);

}  // namespace moe
