#include <gtest/gtest.h>

#include <vector>

#include "backends/cpu/grouped_gemm.h"
#include "core/check.h"
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

std::vector<double> ref_forward(const std::vector<float>& x, const std::vector<float>& w,
                                const std::vector<float>* b) {
  std::vector<double> out((kOffsets[kE]) * kO, 0.0);
  for (int64_t e = 0; e < kE; ++e)
    for (int64_t r = kOffsets[e]; r < kOffsets[e + 1]; ++r)
      for (int64_t o = 0; o < kO; ++o) {
        double acc = b ? (*b)[e * kO + o] : 0.0;
        for (int64_t i = 0; i < kI; ++i)
          acc += double(x[r * kI + i]) * w[(e * kO + o) * kI + i];
        out[r * kO + o] = acc;
      }
  return out;
}

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
  auto ref = ref_forward(x, w, with_bias ? &b : nullptr);
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

TEST(GroupedGemm, BackwardFloatOpMatchesReference) {
  auto offsets = kOffsets;
  auto x = random_vector<float>(kRows * kI, 4);
  auto w = random_vector<float>(kE * kO * kI, 5);
  auto dout = random_vector<float>(kRows * kO, 6);
  auto dw = random_vector<float>(kE * kO * kI, 7);
  auto db = random_vector<float>(kE * kO, 8);
  std::vector<double> dw_ref(dw.begin(), dw.end()), db_ref(db.begin(), db.end());
  std::vector<float> dx(kRows * kI, 0.0f);
  ops::grouped_linear_backward(
      cpu_tensor(dx.data(), {kRows, kI}), cpu_tensor(dw.data(), {kE, kO, kI}),
      cpu_tensor(db.data(), {kE, kO}), cpu_tensor(dout.data(), {kRows, kO}),
      cpu_tensor(x.data(), {kRows, kI}), cpu_tensor(w.data(), {kE, kO, kI}),
      cpu_tensor(offsets.data(), {kE + 1}));
  std::vector<double> dx_ref(kRows * kI, 0.0);
  for (int64_t e = 0; e < kE; ++e)
    for (int64_t r = kOffsets[e]; r < kOffsets[e + 1]; ++r)
      for (int64_t o = 0; o < kO; ++o) {
        const double g = dout[r * kO + o];
        db_ref[e * kO + o] += g;
        for (int64_t i = 0; i < kI; ++i) {
          dx_ref[r * kI + i] += g * w[(e * kO + o) * kI + i];
          dw_ref[(e * kO + o) * kI + i] += g * x[r * kI + i];
        }
      }
  EXPECT_LE(rel_error(dx, dx_ref), 1e-5);
  EXPECT_LE(rel_error(dw, dw_ref), 1e-5);
  EXPECT_LE(rel_error(db, db_ref), 1e-5);
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
                                        kOffsets.data(), kRows, kI, kO, kE);
    return weighted_sum(out, wout);
  };
  // dw and db accumulate onto what is already there.
  auto dw0 = random_vector<double>(kE * kO * kI, 13);
  auto db0 = random_vector<double>(kE * kO, 14);
  std::vector<double> dx(kRows * kI, 0.0), dw = dw0, db = db0;
  cpu::grouped_linear_backward<double>(dx.data(), dw.data(), db.data(), wout.data(), x.data(),
                                       w.data(), kOffsets.data(), kRows, kI, kO, kE);
  for (size_t i = 0; i < dw.size(); ++i)
    dw[i] -= dw0[i];
  for (size_t i = 0; i < db.size(); ++i)
    db[i] -= db0[i];
  EXPECT_LE(rel_error(dx, numeric_gradient([&](const auto& v) { return f(v, w, b); }, x)), 1e-6);
  EXPECT_LE(rel_error(dw, numeric_gradient([&](const auto& v) { return f(x, v, b); }, w)), 1e-6);
  EXPECT_LE(rel_error(db, numeric_gradient([&](const auto& v) { return f(x, w, v); }, b)), 1e-6);
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
