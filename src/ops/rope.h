// Rotary position embedding (Su et al. 2021, RoFormer) in the "rotate half" layout used by
// Hugging Face Llama/Mixtral: dimension i is paired with i + D/2, inverse frequency
// theta^(-2i/D), angle = position * inv_freq[i].
#pragma once
#include "core/tensor.h"

namespace moe::ops {

// out (B, T, H, D) = rope(x (B, T, H, D)) at positions pos_offset + t. out may alias x.
void rope_forward(Tensor out, const Tensor& x, int64_t pos_offset, float theta);

// dx (B, T, H, D) = inverse rotation of dout. dx may alias dout.
void rope_backward(Tensor dx, const Tensor& dout, int64_t pos_offset, float theta);

}  // namespace moe::ops
