// fp32 → bf16 and fp16 conversion, rounding to nearest even; NaN stays NaN (a quiet NaN of the
// same sign), and values beyond the target's range become infinity, as IEEE 754 rounding gives.
#pragma once
#include <cstdint>

namespace moe {

// The bf16 bits of x: its upper 16 bits, rounded to nearest even on the lower 16.
uint16_t fp32_to_bf16(float x);

// The IEEE 754 binary16 bits of x (subnormals included).
uint16_t fp32_to_fp16(float x);

}  // namespace moe
