// CPU kernels for the grouped (per-expert) linear layer (see ops/grouped_gemm.h).
#pragma once
#include <cstdint>

namespace moe::cpu {

// out (M, O), x (M, I), w (E, O, I), b (E, O) or null, expert_offsets (E+1); M is the number of
// buffer rows, of which [off[0], off[E]) are used.
template <typename T>
void grouped_linear_forward(T* out, const T* x, const T* w, const T* b,
                            const int32_t* expert_offsets, int64_t M, int64_t I, int64_t O,
                            int64_t E);

// dx (M, I) or null, dw (E, O, I), db (E, O) or null, dout (M, O), x (M, I), w (E, O, I),
// expert_offsets (E+1).
template <typename T>
void grouped_linear_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w,
                             const int32_t* expert_offsets, int64_t M, int64_t I, int64_t O,
                             int64_t E);

}  // namespace moe::cpu
