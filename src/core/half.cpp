#include "core/half.h"

#include <bit>

namespace moe {

uint16_t fp32_to_bf16(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN
  // Adding 0x7fff plus the kept part's lowest bit rounds half to even (carries may reach the
  // exponent, which is correct rounding up to the next binade or to infinity).
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

uint16_t fp32_to_fp16(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u | static_cast<uint16_t>((abs >> 13) & 0x3ffu);
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity (or is one)
  if (abs >= 0x38800000u) {                       // normal in fp16 (>= 2^-14)
    // Rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even.
    const uint32_t rebased = abs - (uint32_t{112} << 23);
    return sign | static_cast<uint16_t>((rebased + 0xfffu + ((rebased >> 13) & 1u)) >> 13);
  }
  if (abs < 0x33000000u) return sign;  // below half the smallest subnormal (2^-25): zero
  // Subnormal in fp16: the value in units of 2^-24, rounded to nearest even.
  const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
  const int shift = 126 - static_cast<int>(abs >> 23);  // 14..24 for exponents -25..-15
  const uint32_t half_ulp = uint32_t{1} << (shift - 1);
  const uint32_t kept = mantissa >> shift;
  const uint32_t rest = mantissa & ((uint32_t{1} << shift) - 1);
  const uint32_t rounded = kept + (rest > half_ulp || (rest == half_ulp && (kept & 1u)) ? 1u : 0u);
  return sign | static_cast<uint16_t>(rounded);
}

}  // namespace moe
