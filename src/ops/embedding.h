// Token (+ optional learned position) embedding lookup.
#pragma once
#include "core/tensor.h"

namespace moe::ops {

// out (B, T, C) = wte[tokens[b, t]] + wpe[pos_offset + t]; tokens (B, T) I32; wte (V, C);
// wpe (max_T, C) or empty. Token ids outside [0, V) raise an error naming the id.
void embedding_forward(Tensor out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe,
                       int64_t pos_offset = 0);

// dwte (V, C) += scatter of dout by token; dwpe (max_T, C) += sum over batch (when not empty).
void embedding_backward(Tensor dwte, Tensor dwpe, const Tensor& dout, const Tensor& tokens);

}  // namespace moe::ops
