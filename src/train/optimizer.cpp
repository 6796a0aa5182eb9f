#include "train/optimizer.h"

#include <cmath>

#include "ops/adamw.h"
#include "ops/elementwise.h"

namespace moe {

AdamW::AdamW(ParamTable& params, const TrainConfig& cfg) : params_(params), cfg_(cfg) {
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
  for (Param& p : params_.params()) {
    args.weight_decay = p.decay ? cfg_.weight_decay : 0.0f;
    const int64_t begin = p.offset, end = p.offset + p.shape.numel();
    ops::adamw_update(p.value.view(Shape{p.shape.numel()}), p.grad.view(Shape{p.shape.numel()}),
                      m_.rows(begin, end), v_.rows(begin, end), args);
  }
}

float clip_grad_norm(ParamTable& params, float max_norm) {
  const double norm = std::sqrt(ops::sum_squares(params.flat_grads()));
  if (max_norm > 0.0f && norm > max_norm)
    ops::scale_inplace(params.flat_grads(), static_cast<float>(max_norm / (norm + 1e-6)));
  return static_cast<float>(norm);
}

}  // namespace moe
