// CUDA kernels for the grouped (per-expert) linear layer (see ops/grouped_gemm.h), the same
// results as backends/cpu/grouped_gemm.h. The expert offsets stay on the device: every launch
// covers the largest group any expert could have, and blocks past their expert's rows exit.
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32. out (M, O), x (M, I), w (E, O, I), b (E, O) or empty,
// expert_offsets (E+1); only rows [off[0], off[E]) are touched.
void grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                            const Tensor& expert_offsets);
// dx (M, I) assigned or accumulated (dx_mode), or empty; dw (E, O, I) and db (E, O) or empty
// accumulated.
void grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                             const Tensor& w, const Tensor& expert_offsets, InputGrad dx_mode);
// Table entries of bf16_linear: the same with x, w and dout BF16 (widened to fp32 in the tiles).
void bf16_grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                                 const Tensor& expert_offsets);
void bf16_grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout,
                                  const Tensor& x, const Tensor& w, const Tensor& expert_offsets,
                                  InputGrad dx_mode);

}  // namespace moe::cuda
