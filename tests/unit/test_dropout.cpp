#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "ops/dropout.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::random_vector;
using testing::rel_error;

constexpr int64_t kN = 200000;

TEST(Dropout, KeepIsUniformThreshold) {
  const uint64_t key = rng_key(3, 1);
  for (int64_t i = 0; i < 1000; ++i)
    EXPECT_EQ(ops::dropout_keep(key, i, 0.3f), rng_keep(key, i, dropout_threshold(0.3f)));
}

TEST(Dropout, ForwardMatchesReference) {
  const uint64_t key = rng_key(5, 2);
  const float p = 0.25f;
  auto x = random_vector<float>(kN, 1);
  std::vector<float> out(kN);
  ops::dropout_forward(cpu_tensor(out.data(), {kN}), cpu_tensor(x.data(), {kN}), p, key);
  std::vector<double> ref(kN);
  for (int64_t i = 0; i < kN; ++i)
    ref[i] = rng_keep(key, i, dropout_threshold(p)) ? static_cast<double>(x[i]) / (1.0 - p) : 0.0;
  EXPECT_LE(rel_error(out, ref), 1e-5);
}

TEST(Dropout, KeptFractionIsOneMinusP) {
  const uint64_t key = rng_key(9, 4);
  const float p = 0.3f;
  std::vector<float> ones(kN, 1.0f), out(kN);
  ops::dropout_forward(cpu_tensor(out.data(), {kN}), cpu_tensor(ones.data(), {kN}), p, key);
  int64_t kept = 0;
  for (float v : out)
    kept += v != 0.0f;
  // Standard error sqrt(p (1 - p) / kN) ~ 0.001.
  EXPECT_NEAR(static_cast<double>(kept) / kN, 1.0 - p, 0.006);
}

TEST(Dropout, BackwardUsesForwardMask) {
  const uint64_t key = rng_key(11, 6);
  const float p = 0.5f;
  const int64_t n = 4096;
  // Inputs bounded away from zero so a zero output means a dropped element.
  auto x = random_vector<float>(n, 2, 1.0, 2.0), dout = random_vector<float>(n, 3, 1.0, 2.0);
  std::vector<float> out(n), dx(n);
  ops::dropout_forward(cpu_tensor(out.data(), {n}), cpu_tensor(x.data(), {n}), p, key);
  ops::dropout_backward(cpu_tensor(dx.data(), {n}), cpu_tensor(dout.data(), {n}), p, key);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(out[i] == 0.0f, dx[i] == 0.0f) << "element " << i;
    if (dx[i] != 0.0f) EXPECT_FLOAT_EQ(dx[i], dout[i] * 2.0f);
  }
  // In place (dx aliasing dout) gives the same result.
  std::vector<float> inplace = dout;
  ops::dropout_backward(cpu_tensor(inplace.data(), {n}), cpu_tensor(inplace.data(), {n}), p, key);
  EXPECT_EQ(inplace, dx);
}

TEST(Dropout, ZeroProbabilityIsIdentity) {
  auto x = random_vector<float>(1000, 4);
  std::vector<float> out(1000), dx(1000);
  ops::dropout_forward(cpu_tensor(out.data(), {1000}), cpu_tensor(x.data(), {1000}), 0.0f, 77);
  ops::dropout_backward(cpu_tensor(dx.data(), {1000}), cpu_tensor(x.data(), {1000}), 0.0f, 77);
  EXPECT_EQ(out, x);
  EXPECT_EQ(dx, x);
}

TEST(Dropout, RejectsBadShapesDtypesAndP) {
  std::vector<float> x(6), out(6);
  std::vector<int32_t> xi(6);
  EXPECT_THROW(
      ops::dropout_forward(cpu_tensor(out.data(), {2, 3}), cpu_tensor(x.data(), {6}), 0.1f, 1),
      Error);
  EXPECT_THROW(
      ops::dropout_forward(cpu_tensor(out.data(), {6}), cpu_tensor(xi.data(), {6}), 0.1f, 1),
      Error);
  EXPECT_THROW(
      ops::dropout_backward(cpu_tensor(out.data(), {6}), cpu_tensor(x.data(), {3, 2}), 0.1f, 1),
      Error);
  EXPECT_THROW(
      ops::dropout_forward(cpu_tensor(out.data(), {6}), cpu_tensor(x.data(), {6}), 1.0f, 1), Error);
  EXPECT_THROW(
      ops::dropout_forward(cpu_tensor(out.data(), {6}), cpu_tensor(x.data(), {6}), -0.1f, 1),
      Error);
}

}  // namespace
}  // namespace moe
