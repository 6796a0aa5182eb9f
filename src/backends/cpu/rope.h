// CPU kernels for rotary position embedding, "rotate half" layout (Hugging Face Llama):
// dimension i < D/2 is paired with i + D/2 and rotated by angle (pos_offset + t) * theta^(-2i/D).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void rope_forward(Tensor out, const Tensor& x, int64_t pos_offset, float theta);
void rope_backward(Tensor dx, const Tensor& dout, int64_t pos_offset, float theta);

// The kernels, templated on the scalar type.

// out (B, T, H, D), x (B, T, H, D). out may alias x. D must be even.
template <typename T>
void rope_forward(T* out, const T* x, int64_t B, int64_t Tn, int64_t H, int64_t D,
                  int64_t pos_offset, float theta);

// dx (B, T, H, D), dout (B, T, H, D): the transposed (inverse) rotation. dx may alias dout.
template <typename T>
void rope_backward(T* dx, const T* dout, int64_t B, int64_t Tn, int64_t H, int64_t D,
                   int64_t pos_offset, float theta);

}  // namespace moe::cpu
