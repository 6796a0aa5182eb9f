#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/cpu/rope.h"
#include "core/check.h"
#include "ops/rope.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

// Hugging Face Llama, written out: cos/sin = cat(freqs, freqs), out = x cos + rotate_half(x) sin
// with rotate_half(x) = cat(-x[D/2:], x[:D/2]).
std::vector<double> reference_rope(const std::vector<float>& x, int64_t B, int64_t T, int64_t H,
                                   int64_t D, int64_t pos_offset, double theta) {
  std::vector<double> out(x.size());
  const int64_t half = D / 2;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const float* xr = x.data() + ((b * T + t) * H + h) * D;
        double* o = out.data() + ((b * T + t) * H + h) * D;
        for (int64_t d = 0; d < D; ++d) {
          const int64_t i = d % half;
          const double angle = static_cast<double>(pos_offset + t) *
                               (1.0 / std::pow(theta, static_cast<double>(2 * i) / D));
          const double rotated = d < half ? -static_cast<double>(xr[d + half]) : xr[d - half];
          o[d] = xr[d] * std::cos(angle) + rotated * std::sin(angle);
        }
      }
  return out;
}

TEST(RopeTest, ForwardMatchesHuggingFaceReference) {
  const int64_t B = 2, T = 5, H = 3, D = 8, pos = 3;
  std::vector<float> x = random_vector<float>(B * T * H * D, 1);
  std::vector<float> out(x.size());
  ops::rope_forward(cpu_tensor(out.data(), {B, T, H, D}), cpu_tensor(x.data(), {B, T, H, D}), pos,
                    10000.0f);
  EXPECT_LE(rel_error(out, reference_rope(x, B, T, H, D, pos, 10000.0)), 1e-5);
}

TEST(RopeTest, PositionZeroIsIdentityAndInPlaceMatches) {
  const int64_t B = 1, T = 4, H = 2, D = 6;
  std::vector<float> x = random_vector<float>(B * T * H * D, 2);
  std::vector<float> out(x.size());
  ops::rope_forward(cpu_tensor(out.data(), {B, T, H, D}), cpu_tensor(x.data(), {B, T, H, D}), 7,
                    500.0f);
  std::vector<float> inplace = x;
  Tensor t = cpu_tensor(inplace.data(), {B, T, H, D});
  ops::rope_forward(t, t, 7, 500.0f);
  EXPECT_EQ(inplace, out);

  std::vector<float> first(x.begin(), x.begin() + H * D);
  std::vector<float> first_out(first.size());
  ops::rope_forward(cpu_tensor(first_out.data(), {1, 1, H, D}),
                    cpu_tensor(first.data(), {1, 1, H, D}), 0, 500.0f);
  EXPECT_EQ(first_out, first);
}

TEST(RopeTest, BackwardMatchesFiniteDifferences) {
  const int64_t B = 2, T = 3, H = 2, D = 4, pos = 5;
  const size_t n = B * T * H * D;
  std::vector<double> x = random_vector<double>(n, 3);
  std::vector<double> w = random_vector<double>(n, 4);
  auto f = [&](const std::vector<double>& xv) {
    std::vector<double> out(n);
    cpu::rope_forward(out.data(), xv.data(), B, T, H, D, pos, 100.0f);
    return weighted_sum(out, w);
  };
  std::vector<double> dx(n);
  cpu::rope_backward(dx.data(), w.data(), B, T, H, D, pos, 100.0f);
  EXPECT_LE(rel_error(dx, numeric_gradient(f, x)), 1e-6);
}

TEST(RopeTest, BackwardInPlaceMatchesOutOfPlace) {
  const int64_t B = 1, T = 3, H = 2, D = 8;
  std::vector<float> dout = random_vector<float>(B * T * H * D, 5);
  std::vector<float> dx(dout.size());
  ops::rope_backward(cpu_tensor(dx.data(), {B, T, H, D}), cpu_tensor(dout.data(), {B, T, H, D}), 2,
                     10000.0f);
  Tensor t = cpu_tensor(dout.data(), {B, T, H, D});
  ops::rope_backward(t, t, 2, 10000.0f);
  EXPECT_EQ(dout, dx);
}

TEST(RopeTest, RejectsBadShapesAndDtypes) {
  std::vector<float> a(2 * 3 * 2 * 5), b(2 * 3 * 2 * 5);
  // Odd head size.
  EXPECT_THROW(ops::rope_forward(cpu_tensor(a.data(), {2, 3, 2, 5}),
                                 cpu_tensor(b.data(), {2, 3, 2, 5}), 0, 10000.0f),
               Error);
  // Output shape differs from the input.
  EXPECT_THROW(ops::rope_forward(cpu_tensor(a.data(), {2, 3, 5, 2}),
                                 cpu_tensor(b.data(), {2, 3, 2, 5}), 0, 10000.0f),
               Error);
  // Not 4-D.
  EXPECT_THROW(
      ops::rope_backward(cpu_tensor(a.data(), {6, 10}), cpu_tensor(b.data(), {6, 10}), 0, 10000.0f),
      Error);
  std::vector<int32_t> ints(a.size());
  EXPECT_THROW(ops::rope_forward(cpu_tensor(a.data(), {3, 2, 2, 5}),
                                 cpu_tensor(ints.data(), {3, 2, 2, 5}), 0, 10000.0f),
               Error);
}

}  // namespace
}  // namespace moe
