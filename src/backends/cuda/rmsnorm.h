// CUDA kernels for RMSNorm over the last dimension, the same results as backends/cpu/rmsnorm.h:
// x (N, C), w (C), rstd (N), the mean square in fp64.
#pragma once
#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32.
void rmsnorm_forward(Tensor out, Tensor rstd, const Tensor& x, const Tensor& w, float eps);
void rmsnorm_backward(Tensor dx, Tensor dw, const Tensor& dout, const Tensor& x, const Tensor& w,
                      const Tensor& rstd);

}  // namespace moe::cuda
