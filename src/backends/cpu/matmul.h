// CPU kernels for linear layers y = x W^T + b on row-major buffers, W stored (out, in) as in
// PyTorch; the matrix products go to BLAS gemm.
#pragma once
#include <cstdint>

#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b);
void linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                     const Tensor& w, InputGrad dx_mode);

// The kernels, templated on the scalar type.

// out (N, O), x (N, I), w (O, I), b (O) or nullptr.
template <typename T>
void linear_forward(T* out, const T* x, const T* w, const T* b, int64_t N, int64_t I, int64_t O);

// dx (N, I) assigned or accumulated (dx_mode), or nullptr to skip; dw (O, I) accumulated; db (O)
// accumulated, or nullptr to skip; dout (N, O), x (N, I), w (O, I).
template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, int64_t N,
                     int64_t I, int64_t O, InputGrad dx_mode);

}  // namespace moe::cpu
