// CPU kernels of mixed precision: the fp32 <-> bf16 casts and the linear layers with bf16 GEMM
// inputs (backends/backend.h, CastKernels and bf16_linear). The GEMMs widen their bf16 inputs to
// fp32 (exactly) and run the fp32 kernels, so each product of two bf16 values is exact and the
// sums accumulate in fp32, as cuBLAS's bf16 GEMMs with fp32 compute do.
#pragma once
#include <cstdint>

#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cpu {

// Table entries (CastKernels).
void cast_to_bf16(Tensor out, const Tensor& src);
void cast_to_bf16_stochastic(Tensor out, const Tensor& src, uint64_t key);
void cast_from_bf16(Tensor out, const Tensor& src);

// Table entries (bf16_linear): x, w and dout BF16; out, b, dx, dw and db F32.
void bf16_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b);
void bf16_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                          const Tensor& w, InputGrad dx_mode);
void bf16_grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                                 const Tensor& expert_offsets);
void bf16_grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout,
                                  const Tensor& x, const Tensor& w, const Tensor& expert_offsets,
                                  InputGrad dx_mode);

}  // namespace moe::cpu
