#include <gtest/gtest.h>

#include <vector>

#include "backends/cpu/matmul.h"
#include "core/check.h"
#include "ops/matmul.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

constexpr int64_t N = 7, I = 5, O = 70;  // O spans two column blocks of the db sum

// out[n, o] = sum_i x[n, i] w[o, i] + b[o], in double.
std::vector<double> reference_forward(const std::vector<float>& x, const std::vector<float>& w,
                                      const std::vector<float>* b) {
  std::vector<double> out(N * O);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double s = b ? (*b)[o] : 0.0;
      for (int64_t i = 0; i < I; ++i)
        s += static_cast<double>(x[n * I + i]) * w[o * I + i];
      out[n * O + o] = s;
    }
  return out;
}

TEST(Linear, ForwardMatchesReference) {
  auto x = random_vector<float>(N * I, 1), w = random_vector<float>(O * I, 2),
       b = random_vector<float>(O, 3);
  std::vector<float> out(N * O, 99.0f);
  ops::linear_forward(cpu_tensor(out.data(), {N, O}), cpu_tensor(x.data(), {N, I}),
                      cpu_tensor(w.data(), {O, I}), cpu_tensor(b.data(), {O}));
  EXPECT_LE(rel_error(out, reference_forward(x, w, &b)), 1e-5);

  std::vector<float> out_nb(N * O, 99.0f);
  ops::linear_forward(cpu_tensor(out_nb.data(), {N, O}), cpu_tensor(x.data(), {N, I}),
                      cpu_tensor(w.data(), {O, I}), Tensor{});
  EXPECT_LE(rel_error(out_nb, reference_forward(x, w, nullptr)), 1e-5);
}

TEST(Linear, BackwardMatchesReference) {
  auto x = random_vector<float>(N * I, 4), w = random_vector<float>(O * I, 5),
       dout = random_vector<float>(N * O, 6);
  auto dw0 = random_vector<float>(O * I, 7), db0 = random_vector<float>(O, 8);
  std::vector<float> dx(N * I, 99.0f), dw = dw0, db = db0;
  ops::linear_backward(cpu_tensor(dx.data(), {N, I}), cpu_tensor(dw.data(), {O, I}),
                       cpu_tensor(db.data(), {O}), cpu_tensor(dout.data(), {N, O}),
                       cpu_tensor(x.data(), {N, I}), cpu_tensor(w.data(), {O, I}));
  std::vector<double> rdx(N * I, 0.0), rdw(dw0.begin(), dw0.end()), rdb(db0.begin(), db0.end());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      const double g = dout[n * O + o];
      rdb[o] += g;
      for (int64_t i = 0; i < I; ++i) {
        rdx[n * I + i] += g * w[o * I + i];
        rdw[o * I + i] += g * x[n * I + i];
      }
    }
  EXPECT_LE(rel_error(dx, rdx), 1e-5);
  EXPECT_LE(rel_error(dw, rdw), 1e-5);
  EXPECT_LE(rel_error(db, rdb), 1e-5);
}

TEST(Linear, BackwardSkipsEmptyDxAndDb) {
  auto x = random_vector<float>(N * I, 9), w = random_vector<float>(O * I, 10),
       dout = random_vector<float>(N * O, 11);
  std::vector<float> dw(O * I, 0.0f), dw_full(O * I, 0.0f), dx(N * I), db(O, 0.0f);
  ops::linear_backward(Tensor{}, cpu_tensor(dw.data(), {O, I}), Tensor{},
                       cpu_tensor(dout.data(), {N, O}), cpu_tensor(x.data(), {N, I}),
                       cpu_tensor(w.data(), {O, I}));
  ops::linear_backward(cpu_tensor(dx.data(), {N, I}), cpu_tensor(dw_full.data(), {O, I}),
                       cpu_tensor(db.data(), {O}), cpu_tensor(dout.data(), {N, O}),
                       cpu_tensor(x.data(), {N, I}), cpu_tensor(w.data(), {O, I}));
  EXPECT_EQ(dw, dw_full);
}

TEST(Linear, GradientsMatchFiniteDifferences) {
  auto x = random_vector<double>(N * I, 12), w = random_vector<double>(O * I, 13),
       b = random_vector<double>(O, 14), r = random_vector<double>(N * O, 15);
  auto loss = [&](const std::vector<double>& xx, const std::vector<double>& ww,
                  const std::vector<double>& bb) {
    std::vector<double> y(N * O);
    cpu::linear_forward(y.data(), xx.data(), ww.data(), bb.data(), N, I, O);
    return weighted_sum(y, r);
  };
  // dw and db accumulate, so start them away from zero and compare the increments.
  auto dw0 = random_vector<double>(O * I, 16), db0 = random_vector<double>(O, 17);
  std::vector<double> dx(N * I, 99.0), dw = dw0, db = db0;
  cpu::linear_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), N, I, O,
                       InputGrad::Assign);
  for (int64_t i = 0; i < O * I; ++i)
    dw[i] -= dw0[i];
  for (int64_t o = 0; o < O; ++o)
    db[o] -= db0[o];

  auto ndx = numeric_gradient([&](const std::vector<double>& v) { return loss(v, w, b); }, x);
  auto ndw = numeric_gradient([&](const std::vector<double>& v) { return loss(x, v, b); }, w);
  auto ndb = numeric_gradient([&](const std::vector<double>& v) { return loss(x, w, v); }, b);
  EXPECT_LE(rel_error(dx, ndx), 1e-6);
  EXPECT_LE(rel_error(dw, ndw), 1e-6);
  EXPECT_LE(rel_error(db, ndb), 1e-6);
}

// InputGrad::Accumulate adds the input gradient to what dx holds (the sum of several layers'
// input gradients); the increment is the finite-difference gradient.
TEST(Linear, AccumulatedInputGradientMatchesFiniteDifferences) {
  auto x = random_vector<double>(N * I, 22), w = random_vector<double>(O * I, 23),
       r = random_vector<double>(N * O, 24);
  auto loss = [&](const std::vector<double>& xx) {
    std::vector<double> y(N * O);
    cpu::linear_forward(y.data(), xx.data(), w.data(), static_cast<const double*>(nullptr), N, I,
                        O);
    return weighted_sum(y, r);
  };
  const auto dx0 = random_vector<double>(N * I, 25);
  std::vector<double> dx = dx0, dw(O * I, 0.0);
  cpu::linear_backward(dx.data(), dw.data(), static_cast<double*>(nullptr), r.data(), x.data(),
                       w.data(), N, I, O, InputGrad::Accumulate);
  for (int64_t i = 0; i < N * I; ++i)
    dx[i] -= dx0[i];
  EXPECT_LE(rel_error(dx, numeric_gradient(loss, x)), 1e-6);
}

TEST(Linear, AccumulatingOpAddsToDx) {
  auto x = random_vector<float>(N * I, 26), w = random_vector<float>(O * I, 27),
       dout = random_vector<float>(N * O, 28), dx0 = random_vector<float>(N * I, 29);
  std::vector<float> assigned(N * I, 5.0f), summed = dx0, dw(O * I, 0.0f);
  const Tensor xt = cpu_tensor(x.data(), {N, I}), wt = cpu_tensor(w.data(), {O, I}),
               dt = cpu_tensor(dout.data(), {N, O}), dwt = cpu_tensor(dw.data(), {O, I});
  ops::linear_backward(cpu_tensor(assigned.data(), {N, I}), dwt, Tensor{}, dt, xt, wt);
  ops::linear_backward(cpu_tensor(summed.data(), {N, I}), dwt, Tensor{}, dt, xt, wt,
                       InputGrad::Accumulate);
  for (int64_t i = 0; i < N * I; ++i)
    EXPECT_NEAR(summed[i], dx0[i] + assigned[i], 1e-5f) << i;
}

TEST(Linear, RejectsBadShapesAndDtypes) {
  std::vector<float> x(N * I), w(O * I), b(O + 1), out(N * O), dx(N * I), dw(O * I);
  std::vector<int32_t> xi(N * I);
  Tensor tx = cpu_tensor(x.data(), {N, I}), tw = cpu_tensor(w.data(), {O, I}),
         tout = cpu_tensor(out.data(), {N, O});
  // w (O, I + 1) does not match x's I.
  EXPECT_THROW(ops::linear_forward(tout, tx, cpu_tensor(w.data(), {O - 1, I + 1}), Tensor{}),
               Error);
  EXPECT_THROW(ops::linear_forward(tout, tx, tw, cpu_tensor(b.data(), {O + 1})), Error);
  EXPECT_THROW(ops::linear_forward(cpu_tensor(out.data(), {O, N}), tx, tw, Tensor{}), Error);
  EXPECT_THROW(ops::linear_forward(tout, cpu_tensor(xi.data(), {N, I}), tw, Tensor{}), Error);
  EXPECT_THROW(ops::linear_backward(cpu_tensor(dx.data(), {N, I}), cpu_tensor(dw.data(), {I, O}),
                                    Tensor{}, tout, tx, tw),
               Error);
  EXPECT_THROW(ops::linear_backward(cpu_tensor(dx.data(), {I, N}), cpu_tensor(dw.data(), {O, I}),
                                    Tensor{}, tout, tx, tw),
               Error);
}

}  // namespace
}  // namespace moe
