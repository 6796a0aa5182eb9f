// CUDA kernels of the fp32 <-> bf16 casts (backends/backend.h, CastKernels): the very roundings of
// core/half.h, and for the stochastic one the random bits rng_bits(key, i) of core/rng.h, so they
// match the CPU backend bit for bit.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

// Table entries: out (n) BF16 from src (n) F32, or out (n) F32 from src (n) BF16.
void cast_to_bf16(Tensor out, const Tensor& src);
void cast_to_bf16_stochastic(Tensor out, const Tensor& src, uint64_t key);
void cast_from_bf16(Tensor out, const Tensor& src);

}  // namespace moe::cuda
