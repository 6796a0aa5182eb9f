#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "ops/adamw.h"
#include "ops/elementwise.h"

namespace moe {

bool weight_decay_applies(const TrainConfig& cfg, const Param& param) {
  return cfg.weight_decay_params == "all" || param.decay;
}

AdamW::AdamW(ParamTable& params, const TrainConfig& cfg, ElementRange shard, ArenaMode mode)
    : params_(params),
      cfg_(cfg),
      shard_(shard),
      // Blocks of exactly the moments' size: the memory figures show what they take (1 / N of
      // the table's under ZeRO-1), not a rounding up to the default block.
      arena_(ops::device_memory(params.device()), 0, mode) {
  m_ = arena_.alloc(Shape{shard.size()});
  v_ = arena_.alloc(Shape{shard.size()});
}

void AdamW::step(float lr, int64_t step) {
  ops::AdamWArgs args;
  args.lr = lr;
  args.beta1 = cfg_.beta1;
  args.beta2 = cfg_.beta2;
  args.eps = cfg_.adam_eps;
  args.step = step;
  // One call per run of consecutive parameters that share a weight-decay flag, cut to the shard:
  // the flat buffers make such a run contiguous, and long runs let the update loop vectorize and
  // thread well. Parameters that are not trainable (Param::trainable) are skipped.
  const auto& params = params_.params();
  size_t i = 0;
  while (i < params.size()) {
    size_t j = i;
    const bool decay = weight_decay_applies(cfg_, params[i]);
    while (j + 1 < params.size() && weight_decay_applies(cfg_, params[j + 1]) == decay &&
           params[j + 1].trainable == params[i].trainable)
      ++j;
    const int64_t begin = std::max(params[i].offset, shard_.begin);
    const int64_t end = std::min(params[j].offset + params[j].shape.numel(), shard_.end);
    if (params[i].trainable && begin < end) {
      args.weight_decay = decay ? cfg_.weight_decay : 0.0f;
      const int64_t mb = begin - shard_.begin, me = end - shard_.begin;  // in the moments
      ops::adamw_update(params_.flat_values().rows(begin, end),
                        params_.flat_grads().rows(begin, end), m_.rows(mb, me), v_.rows(mb, me),
                        args);
    }
    i = j + 1;
  }
}

void grad_sum_squares(Tensor sum, const Tensor& grads) {
  ops::sum_squares(sum, grads);
}

void clip_grads(Tensor grads, double norm, float max_norm) {
  if (max_norm > 0.0f && norm > max_norm)
    ops::scale_inplace(grads, static_cast<float>(max_norm / (norm + 1e-6)));
}

}  // namespace moe
