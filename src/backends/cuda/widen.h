// An element of a GEMM input as fp32 (included by .cu files only): a float itself, or bf16 bits
// (uint16_t, core/half.h) widened exactly, so one templated kernel serves fp32 and mixed precision.
#pragma once
#include <cstdint>

#include "core/half.h"

namespace moe::cuda {

__device__ inline float widen(float v) {
  return v;
}
__device__ inline float widen(uint16_t v) {
  return bf16_to_fp32(v);
}

}  // namespace moe::cuda
