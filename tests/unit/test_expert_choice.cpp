#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/check.h"
#include "ops/expert_choice.h"
#include "ops/grouped_gemm.h"
#include "ops/moe_permute.h"
#include "ops/moe_router.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

struct Plan {
  std::vector<int32_t> offsets, sorted_slots, slot_rows;
  int32_t dropped = -1;
};

// The op on host vectors: topk_idx and gates (N, k).
template <typename T>
Plan run_plan(std::vector<int32_t>& idx, std::vector<T>& gates, int64_t N, int64_t k, int64_t E,
              int64_t capacity) {
  // The expert-ordered rows: E * capacity, not the N*k candidate slots.
  Plan p{std::vector<int32_t>(E + 1), std::vector<int32_t>(E * capacity),
         std::vector<int32_t>(N * k)};
  ops::expert_choice_plan(
      cpu_tensor(p.offsets.data(), {E + 1}), cpu_tensor(p.sorted_slots.data(), {E * capacity}),
      cpu_tensor(p.slot_rows.data(), {N * k}), cpu_tensor(&p.dropped, {1}),
      cpu_tensor(idx.data(), {N, k}), cpu_tensor(gates.data(), {N, k}), E, capacity);
  return p;
}

// Reference: for each expert, its slots ranked by a comparison sort on (gate descending, slot
// ascending), the first `capacity` kept.
template <typename T>
Plan ref_plan(const std::vector<int32_t>& idx, const std::vector<T>& gates, int64_t N, int64_t k,
              int64_t E, int64_t capacity) {
  Plan p{{0}, {}, std::vector<int32_t>(N * k, -1), 0};
  for (int64_t e = 0; e < E; ++e) {
    std::vector<int32_t> cand;
    for (int64_t s = 0; s < N * k; ++s)
      if (idx[s] == e) cand.push_back(static_cast<int32_t>(s));
    std::stable_sort(cand.begin(), cand.end(),
                     [&](int32_t a, int32_t b) { return gates[a] > gates[b]; });
    for (int64_t r = 0; r < std::min<int64_t>(capacity, cand.size()); ++r) {
      p.slot_rows[cand[r]] = static_cast<int32_t>(p.sorted_slots.size());
      p.sorted_slots.push_back(cand[r]);
    }
    p.offsets.push_back(static_cast<int32_t>(p.sorted_slots.size()));
  }
  for (int64_t n = 0; n < N; ++n)
    p.dropped += std::all_of(p.slot_rows.begin() + n * k, p.slot_rows.begin() + (n + 1) * k,
                             [](int32_t r) { return r < 0; });
  p.sorted_slots.resize(E * capacity, -1);
  return p;
}

void expect_plan_eq(const Plan& got, const Plan& ref) {
  EXPECT_EQ(got.offsets, ref.offsets);
  EXPECT_EQ(got.sorted_slots, ref.sorted_slots);
  EXPECT_EQ(got.slot_rows, ref.slot_rows);
  EXPECT_EQ(got.dropped, ref.dropped);
}

// The expert-choice gate path: topk_idx (N, E) and gates (N, E) = the softmax of logits / tau,
// each row in descending order.
template <typename T>
void full_softmax(std::vector<int32_t>& idx, std::vector<T>& gates, std::vector<T>& logits,
                  int64_t N, int64_t E, float tau = 1.0f) {
  idx.assign(N * E, 0);
  gates.assign(N * E, T(0));
  ops::RouterArgs args;
  args.top_k = static_cast<int>(E);
  args.temperature = tau;
  ops::router_forward(cpu_tensor(idx.data(), {N, E}), cpu_tensor(gates.data(), {N, E}),
                      cpu_tensor(logits.data(), {N, E}), Tensor{}, Tensor{}, args);
}

TEST(ExpertChoice, CapacityIsTokensTimesExpertsPerTokenOverExpertsRoundedHalfUp) {
  EXPECT_EQ(ops::expert_choice_capacity(48, 4, 2), 24);
  EXPECT_EQ(ops::expert_choice_capacity(10, 4, 1), 3);  // 2.5 rounds up
  EXPECT_EQ(ops::expert_choice_capacity(10, 3, 1), 3);  // 3.33
  EXPECT_EQ(ops::expert_choice_capacity(11, 3, 1), 4);  // 3.67
  EXPECT_EQ(ops::expert_choice_capacity(1, 8, 1), 1);   // at least one token
  EXPECT_EQ(ops::expert_choice_capacity(3, 2, 2), 3);   // at most every token
  EXPECT_THROW(ops::expert_choice_capacity(0, 4, 2), Error);
}

TEST(ExpertChoice, EachExpertTakesItsBestTokensAndTheRestAreDropped) {
  // Large enough for the router's parallel path; c = 1 of E = 5 leaves tokens unrouted.
  const int64_t N = 2000, E = 5, C = ops::expert_choice_capacity(N, E, 1);
  auto logits = random_vector<float>(N * E, 1, -3.0, 3.0);
  std::vector<int32_t> idx;
  std::vector<float> gates;
  full_softmax(idx, gates, logits, N, E, 0.8f);
  Plan p = run_plan(idx, gates, N, E, E, C);
  expect_plan_eq(p, ref_plan(idx, gates, N, E, E, C));
  for (int64_t e = 0; e <= E; ++e)
    EXPECT_EQ(p.offsets[e], e * C);
  EXPECT_GT(p.dropped, 0);
  // The kept gate of a row is at least every unkept gate of its expert.
  for (int64_t e = 0; e < E; ++e) {
    float lowest_kept = 2.0f, best_unkept = -1.0f;
    for (int64_t s = 0; s < N * E; ++s) {
      if (idx[s] != e) continue;
      if (p.slot_rows[s] >= 0)
        lowest_kept = std::min(lowest_kept, gates[s]);
      else
        best_unkept = std::max(best_unkept, gates[s]);
    }
    EXPECT_GE(lowest_kept, best_unkept) << "expert " << e;
  }
}

TEST(ExpertChoice, TiesGoToTheLowerToken) {
  // Every token has the same logits: each expert takes tokens 0..C-1, and the rest are dropped.
  const int64_t N = 10, E = 4, C = 3;
  std::vector<double> logits(N * E);
  for (int64_t n = 0; n < N; ++n)
    std::iota(logits.begin() + n * E, logits.begin() + (n + 1) * E, 0.0);
  std::vector<int32_t> idx;
  std::vector<double> gates;
  full_softmax(idx, gates, logits, N, E);
  Plan p = run_plan(idx, gates, N, E, E, C);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = 0; r < C; ++r)
      EXPECT_EQ(p.sorted_slots[e * C + r] / E, r) << "expert " << e << " row " << r;
  EXPECT_EQ(p.dropped, N - C);
}

TEST(ExpertChoice, AnExpertWithFewerCandidatesThanItsCapacityKeepsThemAll) {
  // topk_idx need not name every expert for every token: expert 3 has no candidate here.
  const int64_t N = 6, k = 2, E = 4, C = 5;
  std::vector<int32_t> idx = {0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 0};
  auto gates = random_vector<float>(N * k, 2, 0.0, 1.0);
  Plan p = run_plan(idx, gates, N, k, E, C);
  expect_plan_eq(p, ref_plan(idx, gates, N, k, E, C));
  EXPECT_EQ(p.offsets, (std::vector<int32_t>{0, 4, 8, 12, 12}));
  EXPECT_EQ(p.dropped, 0);
}

// The whole routed path in fp64: logits -> full softmax -> plan -> gather -> per-expert linear
// -> gate-weighted scatter. Its gradients (scatter, GEMM and gather backward, router backward)
// match central differences of the forward, with the selection held by the data (no near ties).
struct Composite {
  static constexpr int64_t N = 9, E = 3, C = 4, O = 5, slots = N * E;
  static constexpr int64_t capacity = 3;         // ops::expert_choice_capacity(N, E, 1): 3 of 9
  static constexpr int64_t rows = E * capacity;  // the experts' rows, a third of the slots
  std::vector<double> logits = random_vector<double>(N * E, 3, -2.0, 2.0);
  std::vector<double> x = random_vector<double>(N * C, 4);
  std::vector<double> w = random_vector<double>(E * O * C, 5);
  std::vector<double> dy = random_vector<double>(N * O, 6);
  // Forward state.
  std::vector<int32_t> idx;
  std::vector<double> gates;
  Plan plan;
  std::vector<double> xs = std::vector<double>(rows * C), ys = std::vector<double>(rows * O);

  double forward(const std::vector<double>& lv, const std::vector<double>& xv) {
    std::vector<double> l = lv, xx = xv;
    full_softmax(idx, gates, l, N, E, 0.9f);
    plan = run_plan(idx, gates, N, E, E, capacity);
    ops::moe_gather(cpu_tensor(xs.data(), {rows, C}), cpu_tensor(xx.data(), {N, C}),
                    cpu_tensor(plan.sorted_slots.data(), {rows}),
                    cpu_tensor(plan.offsets.data(), {E + 1}), E);
    ops::grouped_linear_forward(cpu_tensor(ys.data(), {rows, O}), cpu_tensor(xs.data(), {rows, C}),
                                cpu_tensor(w.data(), {E, O, C}), Tensor{},
                                cpu_tensor(plan.offsets.data(), {E + 1}));
    std::vector<double> y(N * O);
    ops::moe_scatter(cpu_tensor(y.data(), {N, O}), cpu_tensor(ys.data(), {rows, O}),
                     cpu_tensor(gates.data(), {N, E}), cpu_tensor(plan.slot_rows.data(), {slots}));
    return weighted_sum(y, dy);
  }
};

TEST(ExpertChoice, GradientsMatchFiniteDifferences) {
  Composite m;
  ASSERT_EQ(m.capacity, ops::expert_choice_capacity(Composite::N, Composite::E, 1));
  m.forward(m.logits, m.x);
  ASSERT_GT(m.plan.dropped, 0);  // the check below has a token to look at
  const int64_t N = Composite::N, E = Composite::E, C = Composite::C, O = Composite::O,
                slots = Composite::slots, rows = Composite::rows;
  std::vector<double> dys(rows * O), dgates(N * E), dxs(rows * C), dw(E * O * C, 0.0), dx(N * C),
      dlogits(N * E);
  Tensor offsets = cpu_tensor(m.plan.offsets.data(), {E + 1});
  ops::moe_scatter_backward(cpu_tensor(dys.data(), {rows, O}), cpu_tensor(dgates.data(), {N, E}),
                            cpu_tensor(m.dy.data(), {N, O}), cpu_tensor(m.ys.data(), {rows, O}),
                            cpu_tensor(m.gates.data(), {N, E}),
                            cpu_tensor(m.plan.slot_rows.data(), {slots}),
                            cpu_tensor(m.plan.sorted_slots.data(), {rows}), offsets);
  ops::grouped_linear_backward(cpu_tensor(dxs.data(), {rows, C}), cpu_tensor(dw.data(), {E, O, C}),
                               Tensor{}, cpu_tensor(dys.data(), {rows, O}),
                               cpu_tensor(m.xs.data(), {rows, C}),
                               cpu_tensor(m.w.data(), {E, O, C}), offsets);
  ops::moe_gather_backward(cpu_tensor(dx.data(), {N, C}), cpu_tensor(dxs.data(), {rows, C}),
                           cpu_tensor(m.plan.slot_rows.data(), {slots}), E);
  ops::RouterArgs args;
  args.top_k = static_cast<int>(E);
  args.temperature = 0.9f;
  ops::router_backward(cpu_tensor(dlogits.data(), {N, E}), Tensor{},
                       cpu_tensor(dgates.data(), {N, E}), cpu_tensor(m.idx.data(), {N, E}),
                       cpu_tensor(m.gates.data(), {N, E}), Tensor{}, Tensor{}, args);
  const auto logits = m.logits, x = m.x;
  auto num_dlogits =
      numeric_gradient([&](const std::vector<double>& v) { return m.forward(v, x); }, logits);
  auto num_dx =
      numeric_gradient([&](const std::vector<double>& v) { return m.forward(logits, v); }, x);
  EXPECT_LE(rel_error(dlogits, num_dlogits), 1e-6);
  EXPECT_LE(rel_error(dx, num_dx), 1e-6);
  // Tokens no expert took get no gradient through the experts.
  m.forward(logits, x);
  for (int64_t n = 0; n < N; ++n) {
    bool routed = false;
    for (int64_t j = 0; j < E; ++j)
      routed = routed || m.plan.slot_rows[n * E + j] >= 0;
    if (!routed)
      for (int64_t c = 0; c < C; ++c)
        EXPECT_EQ(dx[n * C + c], 0.0);
  }
}

TEST(ExpertChoice, RejectsBadArguments) {
  const int64_t N = 4, k = 2, E = 2;
  std::vector<int32_t> idx = {0, 1, 1, 0, 0, 1, 1, 0}, off(E + 1), sorted(E * (N + 1)), rows(N * k);
  std::vector<float> gates(N * k, 0.5f);
  int32_t dropped = 0;
  auto plan = [&](Tensor offsets, Tensor topk, Tensor g, int64_t capacity) {
    ops::expert_choice_plan(offsets, cpu_tensor(sorted.data(), {E * capacity}),
                            cpu_tensor(rows.data(), {N * k}), cpu_tensor(&dropped, {1}), topk, g, E,
                            capacity);
  };
  Tensor toff = cpu_tensor(off.data(), {E + 1}), ti = cpu_tensor(idx.data(), {N, k}),
         tg = cpu_tensor(gates.data(), {N, k});
  EXPECT_NO_THROW(plan(toff, ti, tg, 2));
  EXPECT_THROW(plan(toff, ti, tg, 0), Error);
  EXPECT_THROW(plan(toff, ti, tg, N + 1), Error);
  EXPECT_THROW(plan(cpu_tensor(off.data(), {E}), ti, tg, 2), Error);
  EXPECT_THROW(plan(toff, ti, cpu_tensor(gates.data(), {N, k - 1}), 2), Error);
  EXPECT_THROW(plan(toff, ti, cpu_tensor(idx.data(), {N, k}), 2), Error);  // gates must be float
  // Rows for every candidate slot (N*k) rather than the E * capacity the experts keep.
  EXPECT_THROW(ops::expert_choice_plan(toff, cpu_tensor(sorted.data(), {N * k}),
                                       cpu_tensor(rows.data(), {N * k}), cpu_tensor(&dropped, {1}),
                                       ti, tg, E, 2),
               Error);
  idx[3] = static_cast<int32_t>(E);  // an expert index out of range
  EXPECT_THROW(plan(toff, ti, tg, 2), Error);
}

}  // namespace
}  // namespace moe
