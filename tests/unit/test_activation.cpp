#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/cpu/activation.h"
#include "core/check.h"
#include "ops/activation.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

TEST(ActivationTest, ReluForwardBackwardMatchReference) {
  const int64_t N = 7, C = 9;
  std::vector<float> x = random_vector<float>(N * C, 1);
  std::vector<float> dout = random_vector<float>(N * C, 2);
  std::vector<float> out(x.size()), dx(x.size());
  ops::relu_forward(cpu_tensor(out.data(), {N, C}), cpu_tensor(x.data(), {N, C}));
  ops::relu_backward(cpu_tensor(dx.data(), {N, C}), cpu_tensor(dout.data(), {N, C}),
                     cpu_tensor(out.data(), {N, C}));
  std::vector<double> ref_out(x.size()), ref_dx(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    ref_out[i] = x[i] > 0 ? static_cast<double>(x[i]) : 0.0;
    ref_dx[i] = x[i] > 0 ? static_cast<double>(dout[i]) : 0.0;
  }
  EXPECT_LE(rel_error(out, ref_out), 1e-5);
  EXPECT_LE(rel_error(dx, ref_dx), 1e-5);

  Tensor t = cpu_tensor(x.data(), {N, C});
  ops::relu_forward(t, t);
  EXPECT_EQ(x, out);
}

TEST(ActivationTest, ReluBackwardMatchesFiniteDifferences) {
  const size_t n = 40;
  std::vector<double> x = random_vector<double>(n, 3);
  std::vector<double> w = random_vector<double>(n, 4);
  auto f = [&](const std::vector<double>& xv) {
    std::vector<double> out(n);
    cpu::relu_forward(out.data(), xv.data(), n);
    return weighted_sum(out, w);
  };
  std::vector<double> out(n), dx(n);
  cpu::relu_forward(out.data(), x.data(), n);
  cpu::relu_backward(dx.data(), w.data(), out.data(), n);
  EXPECT_LE(rel_error(dx, numeric_gradient(f, x)), 1e-6);
}

TEST(ActivationTest, SwigluForwardBackwardMatchReference) {
  const int64_t N = 5, H = 11;
  std::vector<float> g = random_vector<float>(N * H, 5, -4.0, 4.0);
  std::vector<float> u = random_vector<float>(N * H, 6);
  std::vector<float> dout = random_vector<float>(N * H, 7);
  std::vector<float> out(g.size()), dg(g.size()), du(g.size());
  ops::swiglu_forward(cpu_tensor(out.data(), {N, H}), cpu_tensor(g.data(), {N, H}),
                      cpu_tensor(u.data(), {N, H}));
  ops::swiglu_backward(cpu_tensor(dg.data(), {N, H}), cpu_tensor(du.data(), {N, H}),
                       cpu_tensor(dout.data(), {N, H}), cpu_tensor(g.data(), {N, H}),
                       cpu_tensor(u.data(), {N, H}));
  std::vector<double> ref_out(g.size()), ref_dg(g.size()), ref_du(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const double gd = g[i], sig = 1.0 / (1.0 + std::exp(-gd));
    ref_out[i] = gd * sig * u[i];
    ref_du[i] = dout[i] * gd * sig;
    ref_dg[i] = dout[i] * u[i] * (sig + gd * sig * (1.0 - sig));
  }
  EXPECT_LE(rel_error(out, ref_out), 1e-5);
  EXPECT_LE(rel_error(dg, ref_dg), 1e-5);
  EXPECT_LE(rel_error(du, ref_du), 1e-5);
}

TEST(ActivationTest, SwigluBackwardMatchesFiniteDifferences) {
  const size_t n = 30;
  std::vector<double> g = random_vector<double>(n, 8, -4.0, 4.0);
  std::vector<double> u = random_vector<double>(n, 9);
  std::vector<double> w = random_vector<double>(n, 10);
  auto f = [&](const std::vector<double>& gv, const std::vector<double>& uv) {
    std::vector<double> out(n);
    cpu::swiglu_forward(out.data(), gv.data(), uv.data(), n);
    return weighted_sum(out, w);
  };
  std::vector<double> dg(n), du(n);
  cpu::swiglu_backward(dg.data(), du.data(), w.data(), g.data(), u.data(), n);
  EXPECT_LE(
      rel_error(dg, numeric_gradient([&](const std::vector<double>& gv) { return f(gv, u); }, g)),
      1e-6);
  EXPECT_LE(
      rel_error(du, numeric_gradient([&](const std::vector<double>& uv) { return f(g, uv); }, u)),
      1e-6);
}

TEST(ActivationTest, RejectsBadShapesAndDtypes) {
  std::vector<float> a(12), b(12), c(12), d(12), e(12);
  EXPECT_THROW(ops::relu_forward(cpu_tensor(a.data(), {3, 4}), cpu_tensor(b.data(), {4, 3})),
               Error);
  EXPECT_THROW(ops::relu_backward(cpu_tensor(a.data(), {12}), cpu_tensor(b.data(), {12}),
                                  cpu_tensor(c.data(), {2, 6})),
               Error);
  EXPECT_THROW(ops::swiglu_forward(cpu_tensor(a.data(), {3, 4}), cpu_tensor(b.data(), {3, 4}),
                                   cpu_tensor(c.data(), {4, 3})),
               Error);
  EXPECT_THROW(ops::swiglu_backward(cpu_tensor(a.data(), {3, 4}), cpu_tensor(b.data(), {2, 6}),
                                    cpu_tensor(c.data(), {3, 4}), cpu_tensor(d.data(), {3, 4}),
                                    cpu_tensor(e.data(), {3, 4})),
               Error);
  std::vector<int32_t> ints(12);
  EXPECT_THROW(ops::relu_forward(cpu_tensor(a.data(), {3, 4}), cpu_tensor(ints.data(), {3, 4})),
               Error);
  EXPECT_THROW(ops::swiglu_forward(cpu_tensor(a.data(), {3, 4}), cpu_tensor(b.data(), {3, 4}),
                                   cpu_tensor(ints.data(), {3, 4})),
               Error);
}

}  // namespace
}  // namespace moe
