// 16-bit floats of model files and of mixed-precision training: IEEE 754 binary16 (fp16) and
// bfloat16 (the top half of an fp32). Narrowing rounds to nearest, ties to even (IEEE 754's
// default); NaN stays NaN (quiet) and infinities stay infinite. Widening to fp32 is exact.
//
// The bf16 conversions are inline and callable from CUDA kernels (core/host_device.h), so every
// device rounds a weight or an activation to the very same bf16 bits.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/host_device.h"

namespace moe {

MOE_HOST_DEVICE inline uint32_t fp32_bits(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  return bits;
}

MOE_HOST_DEVICE inline bool fp32_bits_nan(uint32_t bits) {
  return (bits & 0x7FFFFFFF) > 0x7F800000;
}

MOE_HOST_DEVICE inline uint16_t fp32_to_bf16(float x) {
  const uint32_t bits = fp32_bits(x);
  if (fp32_bits_nan(bits)) return static_cast<uint16_t>((bits >> 16) | 0x0040);  // a quiet NaN
  // Adding 0x7FFF plus the lowest kept bit rounds the dropped half to nearest, ties to even; a
  // carry into the exponent is the correct rounding up (to infinity past the largest finite).
  const uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

// Stochastic rounding (Gupta et al., "Deep Learning with Limited Numerical Precision", ICML
// 2015): x rounds away from zero with probability (dropped bits) / 2^16, so the rounded value is
// x in expectation and updates smaller than a bf16 step are not all lost. `random` holds 16
// uniform bits (only the low 16 are used); adding them to the dropped half carries into the
// kept half with exactly that probability. Infinities stay infinite (their dropped half is zero,
// so no carry reaches the kept bits); the largest finite values may round up to infinity.
MOE_HOST_DEVICE inline uint16_t fp32_to_bf16_stochastic(float x, uint32_t random) {
  const uint32_t bits = fp32_bits(x);
  if (fp32_bits_nan(bits)) return static_cast<uint16_t>((bits >> 16) | 0x0040);
  return static_cast<uint16_t>((bits + (random & 0xFFFF)) >> 16);
}

MOE_HOST_DEVICE inline float bf16_to_fp32(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float x;
  memcpy(&x, &wide, sizeof x);
  return x;
}

// Values beyond fp16's largest finite 65504 (after rounding) become infinity; values below its
// smallest subnormal 2^-24 round to (signed) zero or to it.
uint16_t fp32_to_fp16(float x);
float fp16_to_fp32(uint16_t bits);

}  // namespace moe
