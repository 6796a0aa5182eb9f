// CPU kernels for LayerNorm over the last dimension (Ba, Kiros, Hinton 2016):
// y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), biased variance.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, const Tensor& x, const Tensor& w,
                       const Tensor& b, float eps);
void layernorm_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                        const Tensor& w, const Tensor& mean, const Tensor& rstd);

// The kernels, templated on the scalar type.

// out (N, C); mean (N), rstd (N) saved for the backward; x (N, C); w (C); b (C) or nullptr.
template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t N,
                       int64_t C, float eps);

// dx (N, C) assigned; dw (C) accumulated; db (C) accumulated, or nullptr; dout (N, C); x (N, C);
// w (C); mean (N), rstd (N) from the forward.
template <typename T>
void layernorm_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, const T* mean,
                        const T* rstd, int64_t N, int64_t C);

}  // namespace moe::cpu
