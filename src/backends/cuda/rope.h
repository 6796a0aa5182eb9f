// CUDA kernels for rotary position embeddings (RoPE, Su et al. 2021) in HF Llama's rotate_half
// layout, the same results as backends/cpu/rope.h: x, out, dout, dx (B, T, H, D), D even.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32.
void rope_forward(Tensor out, const Tensor& x, int64_t pos_offset, float theta);
void rope_backward(Tensor dx, const Tensor& dout, int64_t pos_offset, float theta);

}  // namespace moe::cuda
