// Casts between fp32 and bfloat16 (core/half.h) for mixed-precision training: the bf16 copies of
// the weights and the bf16 GEMM inputs (ops/matmul.h).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::ops {

// out BF16 = src F32 rounded to nearest, ties to even (same shape).
void cast_to_bf16(Tensor out, const Tensor& src);
// out BF16 = src F32 rounded stochastically (core/half.h), element i with the random bits
// rng_bits(key, i) (core/rng.h): every device rounds the same way for the same key.
void cast_to_bf16_stochastic(Tensor out, const Tensor& src, uint64_t key);
// out F32 = src BF16, exactly.
void cast_from_bf16(Tensor out, const Tensor& src);

}  // namespace moe::ops
