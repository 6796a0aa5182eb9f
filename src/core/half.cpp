#include "core/half.h"

#include <bit>
#include <cmath>

namespace moe {

uint16_t fp32_to_fp16(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const uint32_t magnitude = bits & 0x7FFFFFFF;
  if (magnitude > 0x7F800000) return sign | 0x7E00;   // NaN
  if (magnitude >= 0x47800000) return sign | 0x7C00;  // >= 2^16: infinity (also inf itself)
  const int exponent = static_cast<int>(magnitude >> 23) - 127;
  if (exponent < -25) return sign;  // below half the smallest subnormal: zero
  // The significand with its implicit bit, and how many low bits the fp16 result drops: 13 for a
  // normal result, more for a subnormal one (exponent < -14).
  const uint32_t significand = (magnitude & 0x7FFFFF) | 0x800000;
  const int shift = exponent < -14 ? 13 + (-14 - exponent) : 13;
  uint32_t kept = significand >> shift;
  const uint32_t dropped = significand & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (dropped > half || (dropped == half && (kept & 1))) ++kept;  // nearest, ties to even
  // A normal result adds the biased exponent above the 10 stored bits (the implicit bit of kept
  // adds one to it, hence 14 rather than 15); a carry out of the significand moves into the
  // exponent, up to infinity (0x7C00) past 65504.
  if (exponent < -14) return sign | static_cast<uint16_t>(kept);
  return sign | static_cast<uint16_t>((static_cast<uint32_t>(exponent + 14) << 10) + kept);
}

float fp16_to_fp32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1F, mantissa = bits & 0x3FF;
  if (exponent == 0x1F)  // infinity or NaN (the payload kept)
    return std::bit_cast<float>(sign | 0x7F800000 | (mantissa << 13));
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in fp32
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

}  // namespace moe
