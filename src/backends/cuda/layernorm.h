// CUDA kernels for LayerNorm over the last dimension, the same results as
// backends/cpu/layernorm.h: x (N, C), w (C), b (C) or empty, mean and rstd (N), statistics in
// fp64 then stored as F32.
#pragma once
#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32.
void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, const Tensor& x, const Tensor& w,
                       const Tensor& b, float eps);
void layernorm_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                        const Tensor& w, const Tensor& mean, const Tensor& rstd);

}  // namespace moe::cuda
