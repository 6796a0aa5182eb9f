#include "train/optimizer.h"

#include <cmath>

#include "ops/adamw.h"
#include "ops/elementwise.h"

namespace moe {

AdamW::AdamW(ParamTable& params, const TrainConfig& cfg, ArenaMode mode)
    : params_(params), cfg_(cfg), arena_(ops::device_memory(params.device()), mode) {
  m_ = arena_.alloc(Shape{params.numel()});
  v_ = arena_.alloc(Shape{params.numel()});
}

void AdamW::step(float lr, int64_t step) {
  ops::AdamWArgs args;
  args.lr = lr;
  args.beta1 = cfg_.beta1;
  args.beta2 = cfg_.beta2;
  args.eps = cfg_.adam_eps;
  args.step = step;
  // One call per run of consecutive parameters that share a weight-decay flag: the flat buffers
  // make such a run contiguous, and long runs let the update loop vectorize and thread well.
  // Parameters that are not trainable (Param::trainable) are skipped.
  const auto& params = params_.params();
  size_t i = 0;
  while (i < params.size()) {
    size_t j = i;
    while (j + 1 < params.size() && params[j + 1].decay == params[i].decay &&
           params[j + 1].trainable == params[i].trainable)
      ++j;
    if (!params[i].trainable) {
      i = j + 1;
      continue;
    }
    args.weight_decay = params[i].decay ? cfg_.weight_decay : 0.0f;
    const int64_t begin = params[i].offset, end = params[j].offset + params[j].shape.numel();
    ops::adamw_update(params_.flat_values().rows(begin, end), params_.flat_grads().rows(begin, end),
                      m_.rows(begin, end), v_.rows(begin, end), args);
    i = j + 1;
  }
}

void grad_sum_squares(Tensor sum, const ParamTable& params) {
  ops::sum_squares(sum, params.flat_grads());
}

void clip_grads(ParamTable& params, double norm, float max_norm) {
  if (max_norm > 0.0f && norm > max_norm)
    ops::scale_inplace(params.flat_grads(), static_cast<float>(max_norm / (norm + 1e-6)));
}

}  // namespace moe
