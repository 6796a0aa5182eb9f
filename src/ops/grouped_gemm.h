// Grouped linear layer: rows [off[e], off[e+1]) of x go through expert e's weights, one GEMM
// per expert group. Rows at or past off[E] are not touched. Dtypes as in ops/matmul.h: one
// dtype, or BF16 GEMM inputs (x, w, dout) with F32 for the rest.
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::ops {

// out (M, O) = x (M, I) @ w[e] (E, O, I)^T + b[e] (E, O); b may be empty;
// expert_offsets (E+1) I32.
void grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                            const Tensor& expert_offsets);

// dx (M, I) assigned, or added to with InputGrad::Accumulate (skipped when empty); dw (E, O, I)
// and db (E, O) accumulated.
void grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                             const Tensor& w, const Tensor& expert_offsets,
                             InputGrad dx_mode = InputGrad::Assign);

}  // namespace moe::ops
