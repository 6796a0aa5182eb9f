// CUDA kernels for the token (+ learned position) embedding, the same results as
// backends/cpu/embedding.h: tokens (B, T) in [0, V), wte (V, C), wpe (>= pos_offset + T, C) or
// empty, out and dout (B, T, C).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32.
void embedding_forward(Tensor out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe,
                       int64_t pos_offset);
void embedding_backward(Tensor dwte, Tensor dwpe, const Tensor& dout, const Tensor& tokens);

}  // namespace moe::cuda
