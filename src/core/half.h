// 16-bit floats of model files: IEEE 754 binary16 (fp16) and bfloat16 (the top half of an fp32).
// Narrowing rounds to nearest, ties to even (IEEE 754's default); NaN stays NaN (quiet) and
// infinities stay infinite. Widening to fp32 is exact.
#pragma once
#include <cstdint>

namespace moe {

uint16_t fp32_to_bf16(float x);
float bf16_to_fp32(uint16_t bits);

// Values beyond fp16's largest finite 65504 (after rounding) become infinity; values below its
// smallest subnormal 2^-24 round to (signed) zero or to it.
uint16_t fp32_to_fp16(float x);
float fp16_to_fp32(uint16_t bits);

}  // namespace moe
