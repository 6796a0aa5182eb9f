#include "nn/norm.h"

#include "ops/layernorm.h"
#include "ops/rmsnorm.h"

namespace moe {

Norm::Norm(ParamTable& table, const std::string& prefix, const ModelConfig& cfg)
    : layer_norm_(cfg.is_gpt()), eps_(cfg.norm_eps), channels_(cfg.n_embed) {
  weight_ = table.add(prefix + ".weight", Shape{channels_}, ParamInit::ones(), false);
  if (layer_norm_) bias_ = table.add(prefix + ".bias", Shape{channels_}, ParamInit::zeros(), false);
}

void Norm::allocate(Arena& arena, int64_t max_rows) {
  out_ = arena.alloc(Shape{max_rows, channels_});
  mean_ = arena.alloc(Shape{max_rows});
  rstd_ = arena.alloc(Shape{max_rows});
}

Tensor Norm::forward(const Tensor& x) {
  int64_t n = x.size(0);
  Tensor out = out_.rows(0, n);
  if (layer_norm_) {
    ops::layernorm_forward(out, mean_.rows(0, n), rstd_.rows(0, n), x, weight_->value, bias_->value,
                           eps_);
  } else {
    ops::rmsnorm_forward(out, rstd_.rows(0, n), x, weight_->value, eps_);
  }
  return out;
}

void Norm::backward(Tensor dx, const Tensor& dout, const Tensor& x) {
  int64_t n = x.size(0);
  if (layer_norm_) {
    ops::layernorm_backward(dx, weight_->grad, bias_->grad, dout, x, weight_->value,
                            mean_.rows(0, n), rstd_.rows(0, n));
  } else {
    ops::rmsnorm_backward(dx, weight_->grad, dout, x, weight_->value, rstd_.rows(0, n));
  }
}

}  // namespace moe
