// Linear layers on row-major activations: y = x W^T + b, W stored (out, in) as in PyTorch.
// The tensors of a call share one dtype (F32 or F64), or, for mixed precision, the GEMM inputs
// x, w and dout are BF16 and everything else F32: bf16 products accumulated in fp32.
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::ops {

// out (N, O) = x (N, I) @ w (O, I)^T + b (O); b may be empty.
void linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b);

// dx (N, I) = dout @ w            (assigned, or added with InputGrad::Accumulate; skipped when
//                                  dx is empty)
// dw (O, I) += dout^T @ x         (accumulated)
// db (O)    += sum_rows(dout)     (accumulated; skipped when empty)
void linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                     const Tensor& w, InputGrad dx_mode = InputGrad::Assign);

}  // namespace moe::ops
