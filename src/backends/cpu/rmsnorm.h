// CPU kernels for RMSNorm (Zhang, Sennrich 2019), as in Llama/Mixtral:
// y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void rmsnorm_forward(Tensor out, Tensor rstd, const Tensor& x, const Tensor& w, float eps);
void rmsnorm_backward(Tensor dx, Tensor dw, const Tensor& dout, const Tensor& x, const Tensor& w,
                      const Tensor& rstd);

// The kernels, templated on the scalar type.

// out (N, C); rstd (N) saved for the backward; x (N, C); w (C).
template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int64_t N, int64_t C, float eps);

// dx (N, C) assigned; dw (C) accumulated; dout (N, C); x (N, C); w (C); rstd (N) from the forward.
template <typename T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t N,
                      int64_t C);

}  // namespace moe::cpu
