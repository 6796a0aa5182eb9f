#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "backends/cpu/layernorm.h"
#include "core/check.h"
#include "ops/layernorm.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

constexpr int64_t N = 5, C = 150;  // C spans several channel blocks of the kernels
constexpr float kEps = 1e-5f;

struct Reference {
  std::vector<double> out, mean, rstd, dx, dw, db;
};

// LayerNorm in double; the input gradient through the full Jacobian
// d xhat_i / d x_j = rstd (delta_ij - 1/C - xhat_i xhat_j / C).
Reference reference(const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>& b, const std::vector<float>& dout) {
  Reference r{std::vector<double>(N * C), std::vector<double>(N),      std::vector<double>(N),
              std::vector<double>(N * C), std::vector<double>(C, 0.0), std::vector<double>(C, 0.0)};
  for (int64_t n = 0; n < N; ++n) {
    double mu = 0, var = 0;
    for (int64_t c = 0; c < C; ++c)
      mu += x[n * C + c];
    mu /= C;
    for (int64_t c = 0; c < C; ++c)
      var += (x[n * C + c] - mu) * (x[n * C + c] - mu);
    var /= C;
    const double rs = 1.0 / std::sqrt(var + static_cast<double>(kEps));
    r.mean[n] = mu;
    r.rstd[n] = rs;
    std::vector<double> xhat(C);
    for (int64_t c = 0; c < C; ++c) {
      xhat[c] = (x[n * C + c] - mu) * rs;
      r.out[n * C + c] = xhat[c] * w[c] + b[c];
      r.dw[c] += dout[n * C + c] * xhat[c];
      r.db[c] += dout[n * C + c];
    }
    for (int64_t j = 0; j < C; ++j) {
      double s = 0;
      for (int64_t i = 0; i < C; ++i)
        s += dout[n * C + i] * w[i] * rs * ((i == j ? 1.0 : 0.0) - 1.0 / C - xhat[i] * xhat[j] / C);
      r.dx[n * C + j] = s;
    }
  }
  return r;
}

TEST(LayerNorm, MatchesReference) {
  auto x = random_vector<float>(N * C, 1, -2.0, 3.0), w = random_vector<float>(C, 2),
       b = random_vector<float>(C, 3), dout = random_vector<float>(N * C, 4);
  std::vector<float> out(N * C), mean(N), rstd(N), dx(N * C, 99.0f), dw(C, 0.0f), db(C, 0.0f);
  Tensor tx = cpu_tensor(x.data(), {N, C}), tw = cpu_tensor(w.data(), {C}),
         tmean = cpu_tensor(mean.data(), {N}), trstd = cpu_tensor(rstd.data(), {N});
  ops::layernorm_forward(cpu_tensor(out.data(), {N, C}), tmean, trstd, tx, tw,
                         cpu_tensor(b.data(), {C}), kEps);
  ops::layernorm_backward(cpu_tensor(dx.data(), {N, C}), cpu_tensor(dw.data(), {C}),
                          cpu_tensor(db.data(), {C}), cpu_tensor(dout.data(), {N, C}), tx, tw,
                          tmean, trstd);
  const Reference r = reference(x, w, b, dout);
  EXPECT_LE(rel_error(out, r.out), 1e-5);
  EXPECT_LE(rel_error(mean, r.mean), 1e-5);
  EXPECT_LE(rel_error(rstd, r.rstd), 1e-5);
  EXPECT_LE(rel_error(dx, r.dx), 1e-5);
  EXPECT_LE(rel_error(dw, r.dw), 1e-5);
  EXPECT_LE(rel_error(db, r.db), 1e-5);
}

TEST(LayerNorm, WithoutBiasMatchesReference) {
  auto x = random_vector<float>(N * C, 5), w = random_vector<float>(C, 6);
  std::vector<float> zero_b(C, 0.0f), dout(N * C, 0.0f);
  std::vector<float> out(N * C), mean(N), rstd(N);
  ops::layernorm_forward(cpu_tensor(out.data(), {N, C}), cpu_tensor(mean.data(), {N}),
                         cpu_tensor(rstd.data(), {N}), cpu_tensor(x.data(), {N, C}),
                         cpu_tensor(w.data(), {C}), Tensor{}, kEps);
  EXPECT_LE(rel_error(out, reference(x, w, zero_b, dout).out), 1e-5);
}

TEST(LayerNorm, GradientsMatchFiniteDifferences) {
  auto x = random_vector<double>(N * C, 7), w = random_vector<double>(C, 8),
       b = random_vector<double>(C, 9), r = random_vector<double>(N * C, 10);
  std::vector<double> mean(N), rstd(N);
  auto loss = [&](const std::vector<double>& xx, const std::vector<double>& ww,
                  const std::vector<double>& bb) {
    std::vector<double> y(N * C), m(N), s(N);
    cpu::layernorm_forward(y.data(), m.data(), s.data(), xx.data(), ww.data(), bb.data(), N, C,
                           kEps);
    return weighted_sum(y, r);
  };
  std::vector<double> y(N * C);
  cpu::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C,
                         kEps);
  auto dw0 = random_vector<double>(C, 11), db0 = random_vector<double>(C, 12);
  std::vector<double> dx(N * C, 99.0), dw = dw0, db = db0;
  cpu::layernorm_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(),
                          mean.data(), rstd.data(), N, C);
  for (int64_t c = 0; c < C; ++c) {
    dw[c] -= dw0[c];
    db[c] -= db0[c];
  }
  auto ndx = numeric_gradient([&](const std::vector<double>& v) { return loss(v, w, b); }, x);
  auto ndw = numeric_gradient([&](const std::vector<double>& v) { return loss(x, v, b); }, w);
  auto ndb = numeric_gradient([&](const std::vector<double>& v) { return loss(x, w, v); }, b);
  EXPECT_LE(rel_error(dx, ndx), 1e-6);
  EXPECT_LE(rel_error(dw, ndw), 1e-6);
  EXPECT_LE(rel_error(db, ndb), 1e-6);
}

#ifdef _OPENMP
// The parameter gradients sum over rows; the sum must not depend on how rows are split.
TEST(LayerNorm, SameResultForAnyThreadCount) {
  const int64_t rows = 300, cols = 150;  // above the kernels' threading threshold
  auto x = random_vector<float>(rows * cols, 13), w = random_vector<float>(cols, 14),
       dout = random_vector<float>(rows * cols, 15);
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> out(rows * cols), mean(rows), rstd(rows), dx(rows * cols), dw(cols, 0.0f),
        db(cols, 0.0f);
    cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(),
                           static_cast<const float*>(nullptr), rows, cols, kEps);
    cpu::layernorm_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(),
                            mean.data(), rstd.data(), rows, cols);
    omp_set_num_threads(saved);
    out.insert(out.end(), dx.begin(), dx.end());
    out.insert(out.end(), dw.begin(), dw.end());
    out.insert(out.end(), db.begin(), db.end());
    return out;
  };
  EXPECT_EQ(run(1), run(3));
}
#endif

TEST(LayerNorm, RejectsBadShapesAndDtypes) {
  std::vector<float> x(N * C), w(C + 1), out(N * C), mean(N), rstd(N), dx(N * C), dw(C);
  std::vector<int32_t> xi(N * C);
  Tensor tx = cpu_tensor(x.data(), {N, C}), tw = cpu_tensor(w.data(), {C}),
         tout = cpu_tensor(out.data(), {N, C}), tmean = cpu_tensor(mean.data(), {N}),
         trstd = cpu_tensor(rstd.data(), {N});
  EXPECT_THROW(
      ops::layernorm_forward(tout, tmean, trstd, tx, cpu_tensor(w.data(), {C + 1}), Tensor{}, kEps),
      Error);
  EXPECT_THROW(
      ops::layernorm_forward(tout, cpu_tensor(mean.data(), {N - 1}), trstd, tx, tw, Tensor{}, kEps),
      Error);
  EXPECT_THROW(
      ops::layernorm_forward(tout, tmean, trstd, cpu_tensor(xi.data(), {N, C}), tw, Tensor{}, kEps),
      Error);
  EXPECT_THROW(ops::layernorm_backward(cpu_tensor(dx.data(), {C, N}), cpu_tensor(dw.data(), {C}),
                                       Tensor{}, tout, tx, tw, tmean, trstd),
               Error);
  EXPECT_THROW(
      ops::layernorm_backward(cpu_tensor(dx.data(), {N, C}), cpu_tensor(dw.data(), {C - 1}),
                              Tensor{}, tout, tx, tw, tmean, trstd),
      Error);
}

}  // namespace
}  // namespace moe
