// CPU kernels for the token (+ learned position) embedding. Token ids must already be checked to
// lie in [0, V).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void embedding_forward(Tensor out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe,
                       int64_t pos_offset);
void embedding_backward(Tensor dwte, Tensor dwpe, const Tensor& dout, const Tensor& tokens);

// The kernels, templated on the scalar type.

// out (B, T, C) = wte[tokens[b, t]] + wpe[pos_offset + t]; tokens (B, T); wte (V, C);
// wpe (>= pos_offset + T, C) or nullptr.
template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* wte, const T* wpe, int64_t B,
                       int64_t Tn, int64_t C, int64_t pos_offset);

// dwte (V, C) += scatter of dout by token; dwpe (>= T, C) += sum over the batch, or nullptr;
// dout (B, T, C); tokens (B, T).
template <typename T>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const int32_t* tokens, int64_t B,
                        int64_t Tn, int64_t C);

}  // namespace moe::cpu
