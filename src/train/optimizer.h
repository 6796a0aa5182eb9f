// AdamW over the parameter table: moments in two flat buffers laid out like the parameters (or
// like a contiguous shard of them, under ZeRO-1); weight decay for the parameters flagged for it
// (matrices and embeddings, as nanoGPT) or for all of them (train.weight_decay_params).
#pragma once
#include <cstdint>

#include "config/config.h"
#include "core/arena.h"
#include "nn/params.h"
#include "ops/device.h"

namespace moe {

// Elements [begin, end) of the parameter table's flat buffers.
struct ElementRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};

// Whether train.weight_decay applies to `param` under train.weight_decay_params.
bool weight_decay_applies(const TrainConfig& cfg, const Param& param);

class AdamW {
 public:
  // Updates the elements of `shard` only, with moments for those alone (the whole table:
  // {0, params.numel()}). The moments live on the parameters' device. ArenaMode::Measure: they are
  // only counted (bytes_reserved), for memory estimates.
  AdamW(ParamTable& params, const TrainConfig& cfg, ElementRange shard,
        ArenaMode mode = ArenaMode::Allocate);
  // One update of the shard's values from the shard's gradients with learning rate lr; step is the
  // 1-based update count (bias correction).
  void step(float lr, int64_t step);
  ElementRange shard() const { return shard_; }
  Tensor grads() const { return params_.flat_grads().rows(shard_.begin, shard_.end); }  // (shard)
  Tensor m() const { return m_; }                                                       // (shard)
  Tensor v() const { return v_; }                                                       // (shard)
  size_t bytes_reserved() const { return arena_.bytes_reserved(); }

 private:
  ParamTable& params_;
  TrainConfig cfg_;
  ElementRange shard_;
  Arena arena_;
  Tensor m_, v_;
};

// sum (1) F64 = the sum of squares of `grads` (the squared L2 norm), on their device.
void grad_sum_squares(Tensor sum, const Tensor& grads);
// Clipping by global norm (torch.nn.utils.clip_grad_norm_): when max_norm > 0 and `norm` (the L2
// norm of all gradients, from grad_sum_squares) exceeds it, scales `grads` by
// max_norm / (norm + 1e-6).
void clip_grads(Tensor grads, double norm, float max_norm);

}  // namespace moe
