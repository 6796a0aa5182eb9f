// LayerNorm over the last dimension (Ba, Kiros, Hinton 2016):
// y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), biased variance.
#pragma once
#include "core/tensor.h"

namespace moe::ops {

// out (N, C); saved mean (N), rstd (N); x (N, C); w (C); b (C) or empty.
void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, const Tensor& x, const Tensor& w,
                       const Tensor& b, float eps);

// dx (N, C) assigned; dw (C), db (C) accumulated (db skipped when empty).
void layernorm_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                        const Tensor& w, const Tensor& mean, const Tensor& rstd);

}  // namespace moe::ops
