#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/vec_exp.h"

namespace moe {
namespace {

// A million evenly spaced points of [-87, 88] and small arguments near 0, against exp in double.
TEST(VecExp, RelativeErrorBelow1e7OnTheWholeRange) {
  std::vector<float> xs;
  constexpr int kPoints = 1 << 20;
  for (int i = 0; i <= kPoints; ++i)
    xs.push_back(-87.0f + 175.0f * static_cast<float>(i) / kPoints);
  for (float x = 1e-30f; x < 1.0f; x *= 3.0f) {
    xs.push_back(x);
    xs.push_back(-x);
  }
  double worst = 0.0;
  float worst_x = 0.0f;
  for (float x : xs) {
    const double want = std::exp(static_cast<double>(x));
    const double rel = std::abs(static_cast<double>(cpu::vec_exp(x)) - want) / want;
    if (rel > worst) {
      worst = rel;
      worst_x = x;
    }
  }
  EXPECT_LE(worst, 1e-7) << "at x = " << worst_x;
}

TEST(VecExp, SpecialValues) {
  EXPECT_EQ(cpu::vec_exp(0.0f), 1.0f);
  // Clamped to [-87, 88]: tiny and huge but finite, never 0 or inf.
  const float at_minus_inf = cpu::vec_exp(-std::numeric_limits<float>::infinity());
  EXPECT_GT(at_minus_inf, 0.0f);
  EXPECT_LT(at_minus_inf, 2e-38f);
  EXPECT_TRUE(std::isfinite(cpu::vec_exp(std::numeric_limits<float>::infinity())));
  EXPECT_TRUE(std::isnan(cpu::vec_exp(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(cpu::vec_exp(-1.5), std::exp(-1.5));
}

}  // namespace
}  // namespace moe
