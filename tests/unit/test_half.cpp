#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/half.h"

namespace moe {
namespace {

// The exact value of an IEEE 754 binary16 bit pattern (independent of the encoder under test).
float fp16_value(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (exponent == 0x1f)
    return mantissa ? std::numeric_limits<float>::quiet_NaN()
                    : sign * std::numeric_limits<float>::infinity();
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
  return sign * std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
}

TEST(Half, Fp16EveryFiniteValueRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float x = fp16_value(static_cast<uint16_t>(h));
    if (std::isnan(x)) continue;
    ASSERT_EQ(fp32_to_fp16(x), h) << "fp16 bits " << h << " value " << x;
  }
}

TEST(Half, Fp16RoundsToNearestEven) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);             // halfway, to the even 1.0
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);         // halfway, to the even 1 + 2^-9
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);  // above halfway
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);                    // the largest finite
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);  // halfway to 2^16: infinity
  EXPECT_EQ(fp32_to_fp16(-1e10f), 0xfc00);
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);  // halfway to 2^-24: even (zero)
  EXPECT_EQ(fp32_to_fp16(0x1p-25f + 0x1p-40f), 0x0001);
  EXPECT_EQ(fp32_to_fp16(3 * 0x1p-25f), 0x0002);         // 1.5 units: to the even 2
  EXPECT_EQ(fp32_to_fp16(0x1p-14f - 0x1p-26f), 0x0400);  // rounds up into the normals
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(1e-30f), 0x0000);
  const uint16_t nan = fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  // A NaN whose payload lies only in the dropped bits stays NaN.
  EXPECT_NE(fp32_to_fp16(std::bit_cast<float>(0x7f800001u)) & 0x03ff, 0);
}

TEST(Half, Bf16EveryFiniteValueRoundTrips) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float x = std::bit_cast<float>(b << 16);
    if (std::isnan(x)) continue;
    ASSERT_EQ(fp32_to_bf16(x), b) << "bf16 bits " << b;
  }
}

TEST(Half, Bf16RoundsToNearestEven) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // halfway, to even
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // halfway, to even
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);  // above halfway
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7f7fffffu)), 0x7f80);  // max float: infinity
  EXPECT_EQ(fp32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  // NaN stays NaN, payload only in the dropped bits included (rounding would make it infinity).
  EXPECT_TRUE(std::isnan(std::bit_cast<float>(
      static_cast<uint32_t>(fp32_to_bf16(std::bit_cast<float>(0x7f800001u))) << 16)));
  EXPECT_TRUE(std::isnan(std::bit_cast<float>(
      static_cast<uint32_t>(fp32_to_bf16(std::numeric_limits<float>::quiet_NaN())) << 16)));
}

}  // namespace
}  // namespace moe
