// exp that vectorises, for kernels that exponentiate whole tiles (the attention softmax): glibc's
// expf is a function call the compiler cannot vectorise without -ffast-math.
// Float: Cephes expf (S. L. Moshier, Cephes Math Library): x = n ln2 + r with n = round(x / ln2)
// and ln2 split in two parts (Cody-Waite) so r is exact, exp(r) by a degree-5 minimax polynomial
// on |r| <= ln2/2, then the exponent n is put into the bits of the result. Relative error below
// 1e-7 (tests/unit/test_vec_exp.cpp). Arguments are clamped to [-87, 88], where 2^n stays a
// normal float: exp(-inf) gives 1.6e-38, not 0, so callers that mask entries zero them
// themselves. NaN stays NaN.
// Double: std::exp (the fp64 instantiations exist for the finite-difference tests).
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace moe::cpu {

inline float vec_exp(float x) {
  // Written with ternaries, not std::min/max (references defeat GCC's vectoriser); NaN compares
  // false and passes through.
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // Adding 1.5 * 2^23 rounds x / ln2 to the nearest integer n and leaves n in the low mantissa
  // bits, which avoids floor() (not vectorised unless -fno-trapping-math).
  constexpr float kRoundShift = 12582912.0f;  // 1.5 * 2^23, bits 0x4B400000
  const float shifted = x * 1.44269504088896341f + kRoundShift;
  const float n = shifted - kRoundShift;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t exponent = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kRoundShift);
  return p * std::bit_cast<float>((exponent + 127) << 23);
}

inline double vec_exp(double x) {
  return std::exp(x);
}

}  // namespace moe::cpu
