// CPU kernels for the grouped (per-expert) linear layer (see ops/grouped_gemm.h). The expert
// offsets are a non-decreasing partition of the buffer rows, as the ops layer checked.
#pragma once
#include <cstdint>

#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                            const Tensor& expert_offsets);
void grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                             const Tensor& w, const Tensor& expert_offsets, InputGrad dx_mode);

// The kernels, templated on the scalar type.

// out (M, O), x (M, I), w (E, O, I), b (E, O) or null, expert_offsets (E+1); of the M buffer rows
// only [off[0], off[E]) are touched.
template <typename T>
void grouped_linear_forward(T* out, const T* x, const T* w, const T* b,
                            const int32_t* expert_offsets, int64_t I, int64_t O, int64_t E);

// dx (M, I) or null (assigned or accumulated: dx_mode), dw (E, O, I), db (E, O) or null,
// dout (M, O), x (M, I), w (E, O, I), expert_offsets (E+1).
template <typename T>
void grouped_linear_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w,
                             const int32_t* expert_offsets, int64_t I, int64_t O, int64_t E,
                             InputGrad dx_mode);

}  // namespace moe::cpu
