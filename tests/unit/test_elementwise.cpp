#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "ops/elementwise.h"
#include "test_util.h"

namespace moe {
namespace {

// The ops write their statistic into a (1) tensor; these read it back.
double sum_squares_of(const Tensor& t) {
  double sum = -1.0;
  ops::sum_squares(cpu_tensor(&sum, {1}), t);
  return sum;
}

bool all_finite_of(const Tensor& t) {
  int32_t finite = -1;
  ops::all_finite(cpu_tensor(&finite, {1}), t);
  EXPECT_TRUE(finite == 0 || finite == 1);
  return finite == 1;
}

using testing::random_vector;
using testing::rel_error;

// Large enough for the threaded paths and uneven chunking.
constexpr int64_t kN = 100003;

TEST(Elementwise, FillCopyAddScaleMatchReference) {
  auto a = random_vector<float>(kN, 1), b = random_vector<float>(kN, 2);
  Shape shape{kN};

  std::vector<float> t(kN);
  ops::fill(cpu_tensor(t.data(), shape), 0.25f);
  EXPECT_LE(rel_error(t, std::vector<double>(kN, 0.25)), 1e-5);

  std::vector<float> c(kN, 99.0f);
  ops::copy(cpu_tensor(c.data(), shape), cpu_tensor(a.data(), shape));
  EXPECT_EQ(c, a);

  std::vector<int32_t> ids = {3, 1, 4, 1, 5}, ids_copy(5, 0);
  ops::copy(cpu_tensor(ids_copy.data(), {5}), cpu_tensor(ids.data(), {5}));
  EXPECT_EQ(ids_copy, ids);

  std::vector<double> sum(kN), scaled(kN);
  for (int64_t i = 0; i < kN; ++i) {
    sum[i] = static_cast<double>(a[i]) + b[i];
    scaled[i] = (static_cast<double>(a[i]) + b[i]) * -1.5;
  }
  std::vector<float> out(kN);
  ops::add(cpu_tensor(out.data(), shape), cpu_tensor(a.data(), shape), cpu_tensor(b.data(), shape));
  EXPECT_LE(rel_error(out, sum), 1e-5);

  // out aliasing the first operand.
  std::vector<float> alias = a;
  ops::add(cpu_tensor(alias.data(), shape), cpu_tensor(alias.data(), shape),
           cpu_tensor(b.data(), shape));
  EXPECT_LE(rel_error(alias, sum), 1e-5);

  std::vector<float> acc = a;
  ops::add_inplace(cpu_tensor(acc.data(), shape), cpu_tensor(b.data(), shape));
  EXPECT_LE(rel_error(acc, sum), 1e-5);
  ops::scale_inplace(cpu_tensor(acc.data(), shape), -1.5f);
  EXPECT_LE(rel_error(acc, scaled), 1e-5);
}

TEST(Elementwise, SumSquaresMatchesReference) {
  auto a = random_vector<float>(kN, 3);
  double ref = 0;
  for (float v : a)
    ref += static_cast<double>(v) * v;
  const double got = sum_squares_of(cpu_tensor(a.data(), {kN}));
  EXPECT_LE(std::abs(got - ref) / ref, 1e-12);
  std::vector<float> small = {1.0f, -2.0f, 3.0f};
  EXPECT_DOUBLE_EQ(sum_squares_of(cpu_tensor(small.data(), {3})), 14.0);
}

TEST(Elementwise, AllFiniteFindsNanAndInf) {
  auto a = random_vector<float>(kN, 4);
  Tensor t = cpu_tensor(a.data(), {kN});
  EXPECT_TRUE(all_finite_of(t));
  a[kN - 7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(all_finite_of(t));
  a[kN - 7] = 0.0f;
  a[12345] = -std::numeric_limits<float>::infinity();
  EXPECT_FALSE(all_finite_of(t));
}

TEST(Elementwise, FillNormalAndUniformFollowRng) {
  const uint64_t key = rng_key(42, 7);
  std::vector<float> n(kN), u(kN);
  ops::fill_normal(cpu_tensor(n.data(), {kN}), 0.5f, 2.0f, key);
  ops::fill_uniform(cpu_tensor(u.data(), {kN}), -3.0f, 1.0f, key);
  std::vector<double> rn(kN), ru(kN);
  double mean = 0, var = 0;
  for (int64_t i = 0; i < kN; ++i) {
    rn[i] = 0.5 + 2.0 * static_cast<double>(rng_normal(key, i));
    ru[i] = -3.0 + 4.0 * static_cast<double>(rng_uniform(key, i));
    mean += n[i];
    EXPECT_GE(u[i], -3.0f);
    EXPECT_LT(u[i], 1.0f);
  }
  EXPECT_LE(rel_error(n, rn), 1e-5);
  EXPECT_LE(rel_error(u, ru), 1e-5);
  mean /= kN;
  for (float v : n)
    var += (v - mean) * (v - mean);
  var /= kN;
  // Standard errors: 2 / sqrt(kN) ~ 0.006 for the mean, ~ 0.009 for the std.
  EXPECT_NEAR(mean, 0.5, 0.03);
  EXPECT_NEAR(std::sqrt(var), 2.0, 0.04);
}

TEST(Elementwise, RejectsBadShapesAndDtypes) {
  std::vector<float> a(6), b(6), out(6);
  std::vector<int32_t> ai(6);
  EXPECT_THROW(ops::add(cpu_tensor(out.data(), {6}), cpu_tensor(a.data(), {6}),
                        cpu_tensor(b.data(), {2, 3})),
               Error);
  EXPECT_THROW(ops::add(cpu_tensor(out.data(), {3, 2}), cpu_tensor(a.data(), {6}),
                        cpu_tensor(b.data(), {6})),
               Error);
  EXPECT_THROW(ops::add_inplace(cpu_tensor(a.data(), {6}), cpu_tensor(ai.data(), {6})), Error);
  EXPECT_THROW(ops::copy(cpu_tensor(a.data(), {6}), cpu_tensor(ai.data(), {6})), Error);
  EXPECT_THROW(ops::copy(cpu_tensor(a.data(), {2, 3}), cpu_tensor(b.data(), {6})), Error);
  EXPECT_THROW(ops::fill(cpu_tensor(ai.data(), {6}), 1.0f), Error);
  EXPECT_THROW(ops::scale_inplace(cpu_tensor(ai.data(), {6}), 2.0f), Error);
  EXPECT_THROW(sum_squares_of(cpu_tensor(ai.data(), {6})), Error);
  float sum_f32 = 0.0f;  // the sum is F64
  EXPECT_THROW(ops::sum_squares(cpu_tensor(&sum_f32, {1}), cpu_tensor(a.data(), {6})), Error);
  int32_t finite[2] = {0, 0};  // one element
  EXPECT_THROW(ops::all_finite(cpu_tensor(finite, {2}), cpu_tensor(a.data(), {6})), Error);
  EXPECT_THROW(ops::fill_normal(cpu_tensor(a.data(), {6}), 0.0f, -1.0f, 1), Error);
  EXPECT_THROW(ops::fill_uniform(cpu_tensor(a.data(), {6}), 1.0f, 0.0f, 1), Error);
}

}  // namespace
}  // namespace moe
