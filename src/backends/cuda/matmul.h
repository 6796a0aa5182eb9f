// CUDA kernels for linear layers y = x W^T + b on row-major buffers, W stored (out, in) as in
// PyTorch, the same results as backends/cpu/matmul.h: the products through cuBLAS sgemm, the
// bias and its gradient as small kernels. x (N, I), w (O, I), b (O), out and dout (N, O).
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32.
void linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b);
void linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                     const Tensor& w, InputGrad dx_mode);
// Table entries of bf16_linear: x, w and dout BF16 (cublasGemmEx, fp32 compute), the rest F32.
void bf16_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b);
void bf16_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                          const Tensor& w, InputGrad dx_mode);

}  // namespace moe::cuda
