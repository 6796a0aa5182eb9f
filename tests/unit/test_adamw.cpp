#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/check.h"
#include "ops/adamw.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::random_vector;
using testing::rel_error;

constexpr int64_t kN = 257;

TEST(AdamW, ThreeStepsMatchTorchFormula) {
  ops::AdamWArgs args;
  // A large lr and eps so that every term moves the parameters well above float rounding.
  args.lr = 0.1f;
  args.beta1 = 0.8f;
  args.beta2 = 0.95f;
  args.eps = 1e-3f;
  args.weight_decay = 0.1f;
  const auto p0 = random_vector<float>(kN, 1);
  auto p = p0;
  std::vector<float> m(kN, 0.0f), v(kN, 0.0f);
  std::vector<double> rp(p.begin(), p.end()), rm(kN, 0.0), rv(kN, 0.0);
  const Shape shape{kN};
  for (int64_t step = 1; step <= 3; ++step) {
    auto g = random_vector<float>(kN, 10 + static_cast<uint32_t>(step));
    args.step = step;
    ops::adamw_update(cpu_tensor(p.data(), shape), cpu_tensor(g.data(), shape),
                      cpu_tensor(m.data(), shape), cpu_tensor(v.data(), shape), args);
    // torch.optim.AdamW (single-tensor path), in double.
    const double lr = args.lr, b1 = args.beta1, b2 = args.beta2, eps = args.eps,
                 wd = args.weight_decay;
    const double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    for (int64_t i = 0; i < kN; ++i) {
      rp[i] *= 1 - lr * wd;
      rm[i] = b1 * rm[i] + (1 - b1) * g[i];
      rv[i] = b2 * rv[i] + (1 - b2) * static_cast<double>(g[i]) * g[i];
      rp[i] -= lr / bc1 * rm[i] / (std::sqrt(rv[i]) / std::sqrt(bc2) + eps);
    }
    // The displacement from the start, so that errors in the update are not hidden by |p|.
    std::vector<double> moved(kN), rmoved(kN);
    for (int64_t i = 0; i < kN; ++i) {
      moved[i] = static_cast<double>(p[i]) - p0[i];
      rmoved[i] = rp[i] - p0[i];
    }
    EXPECT_LE(rel_error(moved, rmoved), 1e-5) << "step " << step;
    EXPECT_LE(rel_error(m, rm), 1e-5) << "step " << step;
    EXPECT_LE(rel_error(v, rv), 1e-5) << "step " << step;
  }
}

TEST(AdamW, RejectsBadShapesDtypesAndArgs) {
  std::vector<float> p(6), g(6), m(6), v(6);
  std::vector<int32_t> gi(6);
  ops::AdamWArgs args;
  Tensor tp = cpu_tensor(p.data(), {6}), tg = cpu_tensor(g.data(), {6}),
         tm = cpu_tensor(m.data(), {6}), tv = cpu_tensor(v.data(), {6});
  EXPECT_THROW(ops::adamw_update(tp, cpu_tensor(g.data(), {2, 3}), tm, tv, args), Error);
  EXPECT_THROW(ops::adamw_update(tp, tg, cpu_tensor(m.data(), {5}), tv, args), Error);
  EXPECT_THROW(ops::adamw_update(tp, cpu_tensor(gi.data(), {6}), tm, tv, args), Error);
  args.step = 0;
  EXPECT_THROW(ops::adamw_update(tp, tg, tm, tv, args), Error);
  args.step = 1;
  args.beta2 = 1.0f;
  EXPECT_THROW(ops::adamw_update(tp, tg, tm, tv, args), Error);
}

}  // namespace
}  // namespace moe
