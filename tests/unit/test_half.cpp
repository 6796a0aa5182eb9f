// fp32 <-> fp16 / bf16 (core/half.h): widening is exact, narrowing rounds to the nearest
// representable value with ties to even, NaN stays NaN and infinities stay infinite.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "core/half.h"

namespace {

using Narrow = uint16_t (*)(float);
using Widen = float (*)(uint16_t);

// Every finite 16-bit value widens and narrows back to itself; NaNs stay NaN.
void expect_round_trip(Narrow narrow, Widen widen) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const float x = widen(static_cast<uint16_t>(bits));
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(widen(narrow(x)))) << bits;
    } else {
      EXPECT_EQ(narrow(x), bits) << bits;
    }
  }
}

// narrow(x) is the nearest 16-bit value (its neighbours are not nearer; at a tie the even one).
void expect_nearest(Narrow narrow, Widen widen, float x) {
  const uint16_t h = narrow(x);
  const double got = widen(h);
  if (std::isinf(got)) return;  // overflow: checked separately
  const double err = std::fabs(got - x);
  for (int step : {-1, 1}) {
    const uint16_t n = static_cast<uint16_t>(h + step);
    const double other = widen(n);
    if (std::isnan(other) || std::isinf(other) || (n & 0x7FFF) == 0x7FFF) continue;
    if (std::signbit(other) != std::signbit(got) && got != 0.0) continue;  // across zero
    const double other_err = std::fabs(other - x);
    EXPECT_LE(err, other_err) << x;
    if (err == other_err) EXPECT_EQ(h & 1, 0) << "tie not to even for " << x;
  }
}

TEST(Half, Bf16RoundTripsEveryValue) {
  expect_round_trip(moe::fp32_to_bf16, moe::bf16_to_fp32);
}
TEST(Half, Fp16RoundTripsEveryValue) {
  expect_round_trip(moe::fp32_to_fp16, moe::fp16_to_fp32);
}

TEST(Half, NarrowingRoundsToNearestEven) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    float x = std::bit_cast<float>(bits(rng));
    if (!std::isfinite(x)) continue;
    expect_nearest(moe::fp32_to_bf16, moe::bf16_to_fp32, x);
    // fp16's range: rescale into it, subnormals included.
    int exponent = 0;
    const float small = std::ldexp(std::frexp(x, &exponent), static_cast<int>(bits(rng) % 42) - 26);
    expect_nearest(moe::fp32_to_fp16, moe::fp16_to_fp32, small);
  }
}

TEST(Half, KnownValues) {
  EXPECT_EQ(moe::fp32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(moe::fp32_to_fp16(-2.0f), 0xC000);
  EXPECT_EQ(moe::fp32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(moe::fp32_to_fp16(65520.0f), 0x7C00);  // rounds past the largest finite: infinity
  EXPECT_EQ(moe::fp32_to_fp16(65519.0f), 0x7BFF);
  EXPECT_EQ(moe::fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(moe::fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // a tie: to even (zero)
  EXPECT_EQ(moe::fp32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(moe::fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(moe::fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie: to even
  EXPECT_EQ(moe::fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie: to even (up)
  EXPECT_EQ(moe::fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(moe::fp32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie: to even
  EXPECT_EQ(moe::fp32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie: to even (up)
  EXPECT_EQ(moe::fp32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds to infinity
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(moe::fp32_to_fp16(inf), 0x7C00);
  EXPECT_EQ(moe::fp32_to_fp16(-inf), 0xFC00);
  EXPECT_EQ(moe::fp32_to_bf16(-inf), 0xFF80);
  EXPECT_TRUE(std::isnan(moe::fp16_to_fp32(moe::fp32_to_fp16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(moe::bf16_to_fp32(moe::fp32_to_bf16(std::nanf("")))));
  // A NaN whose payload sits only in the low bits that bf16 drops is still a NaN.
  EXPECT_TRUE(std::isnan(moe::bf16_to_fp32(moe::fp32_to_bf16(std::bit_cast<float>(0x7F800001u)))));
  EXPECT_TRUE(std::isnan(moe::fp16_to_fp32(moe::fp32_to_fp16(std::bit_cast<float>(0x7F800001u)))));
}

}  // namespace
