#include <gtest/gtest.h>

#include <vector>

#include "backends/cpu/grouped_gemm.h"
#include "core/check.h"
#include "core/threads.h"
#include "ops/grouped_gemm.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

// Buffer of 14 rows, 12 used; expert 2 owns no rows.
const std::vector<int32_t> kOffsets = {0, 5, 9, 9, 12};
constexpr int64_t kRows = 14, kI = 6, kO = 5, kE = 4;

// A grouped layer's shapes: `rows` buffer rows of which offsets[E] are routed to E experts.
struct Problem {
  std::vector<int32_t> offsets;
  int64_t rows, I, O;
  int64_t E() const { return static_cast<int64_t>(offsets.size()) - 1; }
};

std::vector<double> ref_forward(const Problem& p, const std::vector<float>& x,
                                const std::vector<float>& w, const std::vector<float>* b) {
  std::vector<double> out(p.offsets[p.E()] * p.O, 0.0);
  for (int64_t e = 0; e < p.E(); ++e)
    for (int64_t r = p.offsets[e]; r < p.offsets[e + 1]; ++r)
      for (int64_t o = 0; o < p.O; ++o) {
        double acc = b ? (*b)[e * p.O + o] : 0.0;
        for (int64_t i = 0; i < p.I; ++i)
          acc += double(x[r * p.I + i]) * w[(e * p.O + o) * p.I + i];
        out[r * p.O + o] = acc;
      }
  return out;
}

// Gradients of sum(out * dout): dx assigned, dw and db added to what they hold.
void ref_backward(const Problem& p, const std::vector<float>& x, const std::vector<float>& w,
                  const std::vector<float>& dout, std::vector<double>& dx, std::vector<double>& dw,
                  std::vector<double>& db) {
  dx.assign(p.rows * p.I, 0.0);
  for (int64_t e = 0; e < p.E(); ++e)
    for (int64_t r = p.offsets[e]; r < p.offsets[e + 1]; ++r)
      for (int64_t o = 0; o < p.O; ++o) {
        const double g = dout[r * p.O + o];
        db[e * p.O + o] += g;
        for (int64_t i = 0; i < p.I; ++i) {
          dx[r * p.I + i] += g * w[(e * p.O + o) * p.I + i];
          dw[(e * p.O + o) * p.I + i] += g * x[r * p.I + i];
        }
      }
}

const Problem kSmall{kOffsets, kRows, kI, kO};

void check_forward(bool with_bias) {
  auto offsets = kOffsets;
  auto x = random_vector<float>(kRows * kI, 1);
  auto w = random_vector<float>(kE * kO * kI, 2);
  auto b = random_vector<float>(kE * kO, 3);
  const float sentinel = -77.0f;
  std::vector<float> out(kRows * kO, sentinel);
  ops::grouped_linear_forward(cpu_tensor(out.data(), {kRows, kO}),
                              cpu_tensor(x.data(), {kRows, kI}), cpu_tensor(w.data(), {kE, kO, kI}),
                              with_bias ? cpu_tensor(b.data(), {kE, kO}) : Tensor{},
                              cpu_tensor(offsets.data(), {kE + 1}));
  auto ref = ref_forward(kSmall, x, w, with_bias ? &b : nullptr);
  std::vector<float> used(out.begin(), out.begin() + kOffsets[kE] * kO);
  EXPECT_LE(rel_error(used, ref), 1e-5);
  for (int64_t i = kOffsets[kE] * kO; i < kRows * kO; ++i)
    ASSERT_EQ(out[i], sentinel);
}

TEST(GroupedGemm, ForwardMatchesReferenceWithBias) {
  check_forward(true);
}
TEST(GroupedGemm, ForwardMatchesReferenceNoBias) {
  check_forward(false);
}

// Inputs of one forward and backward pass of the grouped layer; dw0 and db0 are the gradients
// already accumulated, onto which the pass adds.
struct Inputs {
  std::vector<float> x, w, b, dout, dw0, db0;
};

Inputs random_inputs(const Problem& p, uint32_t seed) {
  const int64_t E = p.E();
  return {
      random_vector<float>(p.rows * p.I, seed),      random_vector<float>(E * p.O * p.I, seed + 1),
      random_vector<float>(E * p.O, seed + 2),       random_vector<float>(p.rows * p.O, seed + 3),
      random_vector<float>(E * p.O * p.I, seed + 4), random_vector<float>(E * p.O, seed + 5)};
}

// Outputs of one forward and backward pass.
struct Pass {
  std::vector<float> out, dx, dw, db;
};

Pass run_pass(const Problem& p, Inputs in) {
  const int64_t E = p.E();
  auto offsets = p.offsets;
  Pass r{std::vector<float>(p.rows * p.O, 0.0f), std::vector<float>(p.rows * p.I, 0.0f), in.dw0,
         in.db0};
  Tensor toff = cpu_tensor(offsets.data(), {E + 1});
  Tensor tx = cpu_tensor(in.x.data(), {p.rows, p.I});
  Tensor tw = cpu_tensor(in.w.data(), {E, p.O, p.I});
  ops::grouped_linear_forward(cpu_tensor(r.out.data(), {p.rows, p.O}), tx, tw,
                              cpu_tensor(in.b.data(), {E, p.O}), toff);
  ops::grouped_linear_backward(
      cpu_tensor(r.dx.data(), {p.rows, p.I}), cpu_tensor(r.dw.data(), {E, p.O, p.I}),
      cpu_tensor(r.db.data(), {E, p.O}), cpu_tensor(in.dout.data(), {p.rows, p.O}), tx, tw, toff);
  return r;
}

void check_pass_against_reference(const Problem& p, const Pass& got, const Inputs& in) {
  const int64_t used = p.offsets[p.E()];
  EXPECT_LE(rel_error(std::vector<float>(got.out.begin(), got.out.begin() + used * p.O),
                      ref_forward(p, in.x, in.w, &in.b)),
            1e-5);
  std::vector<double> dx_ref, dw_ref(in.dw0.begin(), in.dw0.end()),
      db_ref(in.db0.begin(), in.db0.end());
  ref_backward(p, in.x, in.w, in.dout, dx_ref, dw_ref, db_ref);
  EXPECT_LE(rel_error(got.dx, dx_ref), 1e-5);
  EXPECT_LE(rel_error(got.dw, dw_ref), 1e-5);
  EXPECT_LE(rel_error(got.db, db_ref), 1e-5);
}

TEST(GroupedGemm, BackwardFloatOpMatchesReference) {
  const Inputs in = random_inputs(kSmall, 4);
  check_pass_against_reference(kSmall, run_pass(kSmall, in), in);
}

// One expert holding most of the tokens has its GEMMs cut into slices (token rows for the output
// and input gradient, output features for the weight gradient) that run in parallel: the result
// must equal the reference, and be the same bits with one thread as with two.
TEST(GroupedGemm, SkewedRoutingIsSlicedExactlyWhateverTheThreads) {
  const Problem p{{0, 600, 600, 650, 690}, 700, 24, 64};
  const Inputs in = random_inputs(p, 21);
  const int threads = num_threads();
  set_num_threads(2);
  const Pass two = run_pass(p, in);
  set_num_threads(1);
  const Pass one = run_pass(p, in);
  set_num_threads(threads);
  check_pass_against_reference(p, two, in);
  EXPECT_EQ(one.out, two.out);
  EXPECT_EQ(one.dx, two.dx);
  EXPECT_EQ(one.dw, two.dw);
  EXPECT_EQ(one.db, two.db);
}

TEST(GroupedGemm, BackwardFiniteDifference) {
  auto x = random_vector<double>(kRows * kI, 9);
  auto w = random_vector<double>(kE * kO * kI, 10);
  auto b = random_vector<double>(kE * kO, 11);
  auto wout = random_vector<double>(kRows * kO, 12);
  for (int64_t i = kOffsets[kE] * kO; i < kRows * kO; ++i)
    wout[i] = 0.0;  // unused rows
  auto f = [&](const std::vector<double>& xv, const std::vector<double>& wv,
               const std::vector<double>& bv) {
    std::vector<double> out(kRows * kO, 0.0);
    cpu::grouped_linear_forward<double>(out.data(), xv.data(), wv.data(), bv.data(),
                                        kOffsets.data(), kI, kO, kE);
    return weighted_sum(out, wout);
  };
  // dw and db accumulate onto what is already there.
  auto dw0 = random_vector<double>(kE * kO * kI, 13);
  auto db0 = random_vector<double>(kE * kO, 14);
  std::vector<double> dx(kRows * kI, 0.0), dw = dw0, db = db0;
  cpu::grouped_linear_backward<double>(dx.data(), dw.data(), db.data(), wout.data(), x.data(),
                                       w.data(), kOffsets.data(), kI, kO, kE, InputGrad::Assign);
  for (size_t i = 0; i < dw.size(); ++i)
    dw[i] -= dw0[i];
  for (size_t i = 0; i < db.size(); ++i)
    db[i] -= db0[i];
  EXPECT_LE(rel_error(dx, numeric_gradient([&](const auto& v) { return f(v, w, b); }, x)), 1e-6);
  EXPECT_LE(rel_error(dw, numeric_gradient([&](const auto& v) { return f(x, v, b); }, w)), 1e-6);
  EXPECT_LE(rel_error(db, numeric_gradient([&](const auto& v) { return f(x, w, v); }, b)), 1e-6);
}

// InputGrad::Accumulate adds each routed row's input gradient to what dx holds and leaves the
// rows no expert owns as they were.
TEST(GroupedGemm, AccumulatedInputGradientMatchesFiniteDifferences) {
  auto x = random_vector<double>(kRows * kI, 31);
  auto w = random_vector<double>(kE * kO * kI, 32);
  auto wout = random_vector<double>(kRows * kO, 33);
  for (int64_t i = kOffsets[kE] * kO; i < kRows * kO; ++i)
    wout[i] = 0.0;  // unused rows
  auto f = [&](const std::vector<double>& xv) {
    std::vector<double> out(kRows * kO, 0.0);
    cpu::grouped_linear_forward<double>(out.data(), xv.data(), w.data(),
                                        static_cast<const double*>(nullptr), kOffsets.data(), kI,
                                        kO, kE);
    return weighted_sum(out, wout);
  };
  const auto dx0 = random_vector<double>(kRows * kI, 34);
  std::vector<double> dx = dx0, dw(kE * kO * kI, 0.0);
  cpu::grouped_linear_backward<double>(dx.data(), dw.data(), static_cast<double*>(nullptr),
                                       wout.data(), x.data(), w.data(), kOffsets.data(), kI, kO, kE,
                                       InputGrad::Accumulate);
  for (int64_t i = kOffsets[kE] * kI; i < kRows * kI; ++i)
    ASSERT_EQ(dx[i], dx0[i]) << "unrouted row element " << i;
  for (size_t i = 0; i < dx.size(); ++i)
    dx[i] -= dx0[i];
  EXPECT_LE(rel_error(dx, numeric_gradient(f, x)), 1e-6);
}

TEST(GroupedGemm, RejectsBadArguments) {
  auto offsets = kOffsets;
  std::vector<float> x(kRows * kI), w(kE * kO * kI), out(kRows * kO), b(kE * kO);
  Tensor tx = cpu_tensor(x.data(), {kRows, kI}), tw = cpu_tensor(w.data(), {kE, kO, kI});
  Tensor tout = cpu_tensor(out.data(), {kRows, kO}), toff = cpu_tensor(offsets.data(), {kE + 1});
  EXPECT_THROW(
      ops::grouped_linear_forward(tout, tx, cpu_tensor(w.data(), {kE, kI, kO}), Tensor{}, toff),
      Error);
  EXPECT_THROW(
      ops::grouped_linear_forward(tout, tx, tw, Tensor{}, cpu_tensor(offsets.data(), {kE})), Error);
  EXPECT_THROW(ops::grouped_linear_forward(tout, tx, tw, cpu_tensor(b.data(), {kE, kO - 1}), toff),
               Error);
  EXPECT_THROW(ops::grouped_linear_forward(tout, tx, tw, Tensor{}, cpu_tensor(b.data(), {kE + 1})),
               Error);  // offsets must be I32
  EXPECT_THROW(ops::grouped_linear_backward(Tensor{}, cpu_tensor(w.data(), {kE, kO, kI - 1}),
                                            Tensor{}, tout, tx, tw, toff),
               Error);
  // Offsets that decrease or run past the buffer.
  offsets = {0, 5, 4, 9, 12};
  EXPECT_THROW(ops::grouped_linear_forward(tout, tx, tw, Tensor{}, toff), Error);
  offsets = {0, 5, 9, 9, kRows + 1};
  EXPECT_THROW(ops::grouped_linear_forward(tout, tx, tw, Tensor{}, toff), Error);
}

}  // namespace
}  // namespace moe
