// RMSNorm (Zhang, Sennrich 2019), as in Llama/Mixtral: y = x * rsqrt(mean(x^2) + eps) * w.
#pragma once
#include "core/tensor.h"

namespace moe::ops {

// out (N, C); saved rstd (N); x (N, C); w (C).
void rmsnorm_forward(Tensor out, Tensor rstd, const Tensor& x, const Tensor& w, float eps);

// dx (N, C) assigned; dw (C) accumulated.
void rmsnorm_backward(Tensor dx, Tensor dw, const Tensor& dout, const Tensor& x, const Tensor& w,
                      const Tensor& rstd);

}  // namespace moe::ops
