#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "backends/cpu/moe_permute.h"
#include "core/check.h"
#include "ops/moe_permute.h"
#include "scratch.h"
#include "test_util.h"

namespace moe {
namespace {

// moe_dispatch_plan with its dropped count (I32 on the device) read back.
int64_t dispatch_plan(Tensor offsets, Tensor sorted_slots, Tensor slot_rows, const Tensor& topk_idx,
                      int64_t n_experts, int64_t capacity) {
  int32_t dropped = -1;
  ops::moe_dispatch_plan(offsets, sorted_slots, slot_rows, cpu_tensor(&dropped, {1}), topk_idx,
                         n_experts, capacity);
  return dropped;
}

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

// k distinct experts per token drawn from `allowed`.
std::vector<int32_t> random_topk(int64_t N, int64_t k, std::vector<int32_t> allowed,
                                 uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<int32_t> idx;
  for (int64_t n = 0; n < N; ++n) {
    std::shuffle(allowed.begin(), allowed.end(), gen);
    idx.insert(idx.end(), allowed.begin(), allowed.begin() + k);
  }
  return idx;
}

struct Plan {
  std::vector<int32_t> offsets, sorted_slots, slot_rows;
  int64_t dropped = 0;
  int64_t M() const { return offsets.back(); }
};

// Reference: walk experts in order and, for each, the slots in token order, keeping the first
// `capacity` of them.
Plan ref_plan(const std::vector<int32_t>& idx, int64_t E, int64_t capacity) {
  const int64_t slots = static_cast<int64_t>(idx.size());
  Plan p{{0}, {}, std::vector<int32_t>(slots, -1), 0};
  for (int64_t e = 0; e < E; ++e) {
    int64_t kept = 0;
    for (int64_t s = 0; s < slots; ++s) {
      if (idx[s] != e) continue;
      if (capacity > 0 && kept >= capacity) {
        ++p.dropped;
        continue;
      }
      p.slot_rows[s] = static_cast<int32_t>(p.sorted_slots.size());
      p.sorted_slots.push_back(static_cast<int32_t>(s));
      ++kept;
    }
    p.offsets.push_back(static_cast<int32_t>(p.sorted_slots.size()));
  }
  return p;
}

Plan run_plan(std::vector<int32_t>& idx, int64_t N, int64_t k, int64_t E, int64_t capacity) {
  Plan p{std::vector<int32_t>(E + 1), std::vector<int32_t>(N * k), std::vector<int32_t>(N * k)};
  p.dropped = dispatch_plan(
      cpu_tensor(p.offsets.data(), {E + 1}), cpu_tensor(p.sorted_slots.data(), {N * k}),
      cpu_tensor(p.slot_rows.data(), {N * k}), cpu_tensor(idx.data(), {N, k}), E, capacity);
  return p;
}

void expect_plan_eq(const Plan& got, const Plan& ref) {
  EXPECT_EQ(got.dropped, ref.dropped);
  EXPECT_EQ(got.offsets, ref.offsets);
  EXPECT_EQ(got.slot_rows, ref.slot_rows);
  ASSERT_EQ(got.M(), ref.M());
  EXPECT_EQ(std::vector<int32_t>(got.sorted_slots.begin(), got.sorted_slots.begin() + got.M()),
            ref.sorted_slots);
}

TEST(MoePermute, DispatchPlanDroplessWithIdleExpert) {
  const int64_t N = 23, k = 2, E = 6;
  auto idx = random_topk(N, k, {0, 1, 2, 4, 5}, 1);  // expert 3 receives nothing
  Plan got = run_plan(idx, N, k, E, 0);
  expect_plan_eq(got, ref_plan(idx, E, 0));
  EXPECT_EQ(got.dropped, 0);
  EXPECT_EQ(got.M(), N * k);
  EXPECT_EQ(got.offsets[3], got.offsets[4]);
}

TEST(MoePermute, DispatchPlanCapacityDropsLaterTokens) {
  const int64_t N = 20, k = 2, E = 4, capacity = 7;
  auto idx = random_topk(N, k, {0, 1, 2, 3}, 2);
  Plan got = run_plan(idx, N, k, E, capacity);
  Plan ref = ref_plan(idx, E, capacity);
  expect_plan_eq(got, ref);
  EXPECT_GT(got.dropped, 0);  // 40 assignments cannot fit 4 * 7 rows
  EXPECT_EQ(got.M(), N * k - got.dropped);
  for (int64_t e = 0; e < E; ++e)
    EXPECT_LE(got.offsets[e + 1] - got.offsets[e], capacity);
}

// Gather, an expert-dependent map of each row, scatter: compared with a dense per-token loop over
// the chosen experts. The map is ys = (e + 1) * xs + e.
TEST(MoePermute, GatherScatterMatchReference) {
  // Large enough for the kernels' parallel paths.
  const int64_t N = 1000, C = 24, k = 2, E = 4, capacity = 450;
  auto idx = random_topk(N, k, {0, 1, 2, 3}, 3);
  Plan p = run_plan(idx, N, k, E, capacity);
  auto x = random_vector<float>(N * C, 4);
  auto gates = random_vector<float>(N * k, 5, 0.0, 1.0);
  const float sentinel = 123.0f;
  std::vector<float> xs(N * k * C, sentinel), ys(N * k * C, sentinel), y(N * C, sentinel);
  Tensor toff = cpu_tensor(p.offsets.data(), {E + 1});
  Tensor trows = cpu_tensor(p.slot_rows.data(), {N * k});
  ops::moe_gather(cpu_tensor(xs.data(), {N * k, C}), cpu_tensor(x.data(), {N, C}),
                  cpu_tensor(p.sorted_slots.data(), {N * k}), toff, k);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = p.offsets[e]; r < p.offsets[e + 1]; ++r)
      for (int64_t c = 0; c < C; ++c)
        ys[r * C + c] = (e + 1) * xs[r * C + c] + e;
  ops::moe_scatter(cpu_tensor(y.data(), {N, C}), cpu_tensor(ys.data(), {N * k, C}),
                   cpu_tensor(gates.data(), {N, k}), trows);

  Plan ref = ref_plan(idx, E, capacity);
  std::vector<double> y_ref(N * C, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < k; ++j) {
      if (ref.slot_rows[n * k + j] < 0) continue;
      const int e = idx[n * k + j];
      for (int64_t c = 0; c < C; ++c)
        y_ref[n * C + c] += gates[n * k + j] * ((e + 1) * double(x[n * C + c]) + e);
    }
  EXPECT_LE(rel_error(y, y_ref), 1e-5);
  ASSERT_GT(p.dropped, 0);
  for (int64_t i = p.M() * C; i < N * k * C; ++i)
    ASSERT_EQ(xs[i], sentinel);
}

TEST(MoePermute, BackwardFloatOpsMatchReference) {
  const int64_t N = 1000, C = 8, k = 3, E = 5, capacity = 580;
  auto idx = random_topk(N, k, {0, 1, 2, 3, 4}, 6);
  Plan p = run_plan(idx, N, k, E, capacity);
  ASSERT_GT(p.dropped, 0);
  auto dxs = random_vector<float>(N * k * C, 7);
  auto ys = random_vector<float>(N * k * C, 8);
  auto dy = random_vector<float>(N * C, 9);
  auto gates = random_vector<float>(N * k, 10, 0.0, 1.0);
  std::vector<float> dx(N * C), dys(N * k * C, 0.0f), dgates(N * k);
  Tensor trows = cpu_tensor(p.slot_rows.data(), {N * k});
  ops::moe_gather_backward(cpu_tensor(dx.data(), {N, C}), cpu_tensor(dxs.data(), {N * k, C}), trows,
                           k);
  ops::moe_scatter_backward(cpu_tensor(dys.data(), {N * k, C}), cpu_tensor(dgates.data(), {N, k}),
                            cpu_tensor(dy.data(), {N, C}), cpu_tensor(ys.data(), {N * k, C}),
                            cpu_tensor(gates.data(), {N, k}), trows,
                            cpu_tensor(p.sorted_slots.data(), {N * k}),
                            cpu_tensor(p.offsets.data(), {E + 1}));
  std::vector<double> dx_ref(N * C, 0.0), dys_ref(N * k * C, 0.0), dgates_ref(N * k, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t r = p.slot_rows[n * k + j];
      if (r < 0) continue;
      for (int64_t c = 0; c < C; ++c) {
        dx_ref[n * C + c] += dxs[r * C + c];
        dys_ref[r * C + c] = double(gates[n * k + j]) * dy[n * C + c];
        dgates_ref[n * k + j] += double(dy[n * C + c]) * ys[r * C + c];
      }
    }
  EXPECT_LE(rel_error(dx, dx_ref), 1e-5);
  EXPECT_LE(rel_error(dys, dys_ref), 1e-5);
  EXPECT_LE(rel_error(dgates, dgates_ref), 1e-5);
}

struct DoubleCase {
  int64_t N = 9, C = 4, k = 2, E = 3, capacity = 5;
  std::vector<int32_t> idx = random_topk(N, k, {0, 1, 2}, 11);
  Plan p = ref_plan(idx, E, capacity);
  DoubleCase() { p.sorted_slots.resize(N * k, -1); }
};

TEST(MoePermute, GatherBackwardFiniteDifference) {
  DoubleCase d;
  ASSERT_GT(d.p.dropped, 0);
  const int64_t rows = d.N * d.k, M = d.p.M();
  auto x = random_vector<double>(d.N * d.C, 12);
  auto w = random_vector<double>(rows * d.C, 13);
  for (int64_t i = M * d.C; i < rows * d.C; ++i)
    w[i] = 0.0;  // rows past M are not outputs
  auto f = [&](const std::vector<double>& xv) {
    std::vector<double> xs(rows * d.C, 0.0);
    cpu::moe_gather<double>(xs.data(), xv.data(), d.p.sorted_slots.data(), d.p.offsets.data(), d.C,
                            d.k, d.E);
    return weighted_sum(xs, w);
  };
  std::vector<double> dxs = w, dx(d.N * d.C);
  for (int64_t i = M * d.C; i < rows * d.C; ++i)
    dxs[i] = 1e3;  // must not be read
  cpu::moe_gather_backward<double>(dx.data(), dxs.data(), d.p.slot_rows.data(), d.N, d.C, d.k);
  EXPECT_LE(rel_error(dx, numeric_gradient(f, x)), 1e-6);
}

TEST(MoePermute, ScatterBackwardFiniteDifference) {
  DoubleCase d;
  const int64_t rows = d.N * d.k;
  auto ys = random_vector<double>(rows * d.C, 14);
  auto gates = random_vector<double>(d.N * d.k, 15, 0.0, 1.0);
  auto w = random_vector<double>(d.N * d.C, 16);
  auto y_of = [&](const std::vector<double>& ysv, const std::vector<double>& gv) {
    std::vector<double> y(d.N * d.C);
    cpu::moe_scatter<double>(y.data(), ysv.data(), gv.data(), d.p.slot_rows.data(), d.N, d.C, d.k);
    return weighted_sum(y, w);
  };
  std::vector<double> dys(rows * d.C, 0.0), dgates(d.N * d.k, 7.0);
  cpu::moe_scatter_backward<double>(dys.data(), dgates.data(), w.data(), ys.data(), gates.data(),
                                    d.p.slot_rows.data(), d.p.sorted_slots.data(),
                                    d.p.offsets.data(), d.N, d.C, d.k, d.E);
  auto num_dys = numeric_gradient([&](const std::vector<double>& v) { return y_of(v, gates); }, ys);
  auto num_dgates =
      numeric_gradient([&](const std::vector<double>& v) { return y_of(ys, v); }, gates);
  EXPECT_LE(rel_error(dys, num_dys), 1e-6);
  EXPECT_LE(rel_error(dgates, num_dgates), 1e-6);
  for (int64_t s = 0; s < d.N * d.k; ++s)
    if (d.p.slot_rows[s] < 0) EXPECT_EQ(dgates[s], 0.0);
}

TEST(MoePermute, RejectsBadArguments) {
  const int64_t N = 4, k = 2, E = 3, C = 2;
  std::vector<int32_t> idx = {0, 1, 1, 2, 2, 0, 0, 1}, off(E + 1), sorted(N * k), rows(N * k);
  std::vector<float> x(N * C), xs(N * k * C), fbuf(N * k);
  Tensor ti = cpu_tensor(idx.data(), {N, k}), toff = cpu_tensor(off.data(), {E + 1});
  Tensor tsorted = cpu_tensor(sorted.data(), {N * k}), trows = cpu_tensor(rows.data(), {N * k});
  EXPECT_THROW(dispatch_plan(cpu_tensor(off.data(), {E}), tsorted, trows, ti, E, 0), Error);
  EXPECT_THROW(dispatch_plan(toff, cpu_tensor(fbuf.data(), {N * k}), trows, ti, E, 0),
               Error);  // sorted_slots must be I32
  EXPECT_THROW(dispatch_plan(toff, tsorted, cpu_tensor(rows.data(), {N * k - 1}), ti, E, 0), Error);
  ASSERT_EQ(dispatch_plan(toff, tsorted, trows, ti, E, 0), 0);
  EXPECT_THROW(ops::moe_gather(cpu_tensor(xs.data(), {N * k - 1, C}), cpu_tensor(x.data(), {N, C}),
                               tsorted, toff, k),
               Error);
  EXPECT_THROW(
      ops::moe_gather_backward(cpu_tensor(x.data(), {N, C}), cpu_tensor(xs.data(), {N * k, C}),
                               cpu_tensor(rows.data(), {N * k - 1}), k),
      Error);
  EXPECT_THROW(ops::moe_scatter(cpu_tensor(x.data(), {N, C}), cpu_tensor(xs.data(), {N * k, C}),
                                cpu_tensor(fbuf.data(), {N, k}), tsorted.view({N, k})),
               Error);  // slot_rows must be (N*k)
  // Offsets promising more rows than the buffer holds.
  off[E] = static_cast<int32_t>(N * k + 1);
  EXPECT_THROW(ops::moe_gather(cpu_tensor(xs.data(), {N * k, C}), cpu_tensor(x.data(), {N, C}),
                               tsorted, toff, k),
               Error);
}

// Slots and rows index the buffers; the op checks them before any kernel reads through them.
TEST(MoePermute, RejectsSlotsAndRowsOutOfRange) {
  const int64_t N = 3, k = 2, E = 2, C = 2, slots = N * k;
  std::vector<int32_t> off = {0, 3, 6}, sorted = {0, 1, 2, 3, 4, 5}, rows = {0, 1, 2, 3, 4, -1};
  std::vector<float> x(N * C), xs(slots * C), gates(N * k);
  auto gather = [&] {
    ops::moe_gather(cpu_tensor(xs.data(), {slots, C}), cpu_tensor(x.data(), {N, C}),
                    cpu_tensor(sorted.data(), {slots}), cpu_tensor(off.data(), {E + 1}), k);
  };
  auto scatter = [&] {
    ops::moe_scatter(cpu_tensor(x.data(), {N, C}), cpu_tensor(xs.data(), {slots, C}),
                     cpu_tensor(gates.data(), {N, k}), cpu_tensor(rows.data(), {slots}));
  };
  gather();
  scatter();
  sorted[4] = static_cast<int32_t>(slots);
  EXPECT_EQ(testing::error_of(gather), "moe_gather: sorted_slots[4] = 6 is not a slot in [0, 6)");
  rows[2] = -2;
  EXPECT_EQ(testing::error_of(scatter),
            "moe_scatter: slot_rows[2] = -2 is not a row, or -1 for a dropped slot, in [-1, 6)");
  off = {0, 4, 3};
  EXPECT_EQ(testing::error_of(gather), "moe_gather: expert_offsets decrease at expert 1 (4 > 3)");
}

TEST(MoePermute, RejectsExpertIndexOutOfRange) {
  const int64_t N = 2, k = 2, E = 3;
  std::vector<int32_t> off(E + 1), sorted(N * k), rows(N * k);
  for (int32_t bad : {3, -1}) {
    std::vector<int32_t> idx = {0, 1, bad, 2};
    EXPECT_THROW(
        dispatch_plan(cpu_tensor(off.data(), {E + 1}), cpu_tensor(sorted.data(), {N * k}),
                      cpu_tensor(rows.data(), {N * k}), cpu_tensor(idx.data(), {N, k}), E, 0),
        Error);
  }
}

}  // namespace
}  // namespace moe
