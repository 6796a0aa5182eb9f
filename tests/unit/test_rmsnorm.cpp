#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/cpu/rmsnorm.h"
#include "core/check.h"
#include "ops/rmsnorm.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

constexpr int64_t N = 5, C = 150;  // C spans several channel blocks of the kernels
constexpr float kEps = 1e-6f;

TEST(RMSNorm, MatchesReference) {
  auto x = random_vector<float>(N * C, 1, -2.0, 3.0), w = random_vector<float>(C, 2),
       dout = random_vector<float>(N * C, 3);
  auto dw0 = random_vector<float>(C, 4);
  std::vector<float> out(N * C), rstd(N), dx(N * C, 99.0f), dw = dw0;
  Tensor tx = cpu_tensor(x.data(), {N, C}), tw = cpu_tensor(w.data(), {C}),
         trstd = cpu_tensor(rstd.data(), {N});
  ops::rmsnorm_forward(cpu_tensor(out.data(), {N, C}), trstd, tx, tw, kEps);
  ops::rmsnorm_backward(cpu_tensor(dx.data(), {N, C}), cpu_tensor(dw.data(), {C}),
                        cpu_tensor(dout.data(), {N, C}), tx, tw, trstd);

  // RMSNorm in double; the input gradient through the full Jacobian
  // d xhat_i / d x_j = rstd (delta_ij - xhat_i xhat_j / C).
  std::vector<double> rout(N * C), rrstd(N), rdx(N * C), rdw(dw0.begin(), dw0.end());
  for (int64_t n = 0; n < N; ++n) {
    double ms = 0;
    for (int64_t c = 0; c < C; ++c)
      ms += static_cast<double>(x[n * C + c]) * x[n * C + c];
    const double rs = 1.0 / std::sqrt(ms / C + static_cast<double>(kEps));
    rrstd[n] = rs;
    std::vector<double> xhat(C);
    for (int64_t c = 0; c < C; ++c) {
      xhat[c] = x[n * C + c] * rs;
      rout[n * C + c] = xhat[c] * w[c];
      rdw[c] += dout[n * C + c] * xhat[c];
    }
    for (int64_t j = 0; j < C; ++j) {
      double s = 0;
      for (int64_t i = 0; i < C; ++i)
        s += dout[n * C + i] * w[i] * rs * ((i == j ? 1.0 : 0.0) - xhat[i] * xhat[j] / C);
      rdx[n * C + j] = s;
    }
  }
  EXPECT_LE(rel_error(out, rout), 1e-5);
  EXPECT_LE(rel_error(rstd, rrstd), 1e-5);
  EXPECT_LE(rel_error(dx, rdx), 1e-5);
  EXPECT_LE(rel_error(dw, rdw), 1e-5);
}

TEST(RMSNorm, GradientsMatchFiniteDifferences) {
  auto x = random_vector<double>(N * C, 5), w = random_vector<double>(C, 6),
       r = random_vector<double>(N * C, 7);
  auto loss = [&](const std::vector<double>& xx, const std::vector<double>& ww) {
    std::vector<double> y(N * C), s(N);
    cpu::rmsnorm_forward(y.data(), s.data(), xx.data(), ww.data(), N, C, kEps);
    return weighted_sum(y, r);
  };
  std::vector<double> y(N * C), rstd(N);
  cpu::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), N, C, kEps);
  auto dw0 = random_vector<double>(C, 8);
  std::vector<double> dx(N * C, 99.0), dw = dw0;
  cpu::rmsnorm_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), rstd.data(), N, C);
  for (int64_t c = 0; c < C; ++c)
    dw[c] -= dw0[c];
  auto ndx = numeric_gradient([&](const std::vector<double>& v) { return loss(v, w); }, x);
  auto ndw = numeric_gradient([&](const std::vector<double>& v) { return loss(x, v); }, w);
  EXPECT_LE(rel_error(dx, ndx), 1e-6);
  EXPECT_LE(rel_error(dw, ndw), 1e-6);
}

TEST(RMSNorm, RejectsBadShapesAndDtypes) {
  std::vector<float> x(N * C), w(C + 1), out(N * C), rstd(N), dx(N * C), dw(C);
  std::vector<int32_t> xi(N * C);
  Tensor tx = cpu_tensor(x.data(), {N, C}), tw = cpu_tensor(w.data(), {C}),
         tout = cpu_tensor(out.data(), {N, C}), trstd = cpu_tensor(rstd.data(), {N});
  EXPECT_THROW(ops::rmsnorm_forward(tout, trstd, tx, cpu_tensor(w.data(), {C + 1}), kEps), Error);
  EXPECT_THROW(ops::rmsnorm_forward(tout, cpu_tensor(rstd.data(), {N, 1}), tx, tw, kEps), Error);
  EXPECT_THROW(ops::rmsnorm_forward(tout, trstd, cpu_tensor(xi.data(), {N, C}), tw, kEps), Error);
  EXPECT_THROW(ops::rmsnorm_backward(cpu_tensor(dx.data(), {N, C}), cpu_tensor(dw.data(), {C}),
                                     cpu_tensor(out.data(), {C, N}), tx, tw, trstd),
               Error);
}

}  // namespace
}  // namespace moe
