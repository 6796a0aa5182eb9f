#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/cpu/moe_router.h"
#include "backends/cpu/router_scores.h"
#include "core/check.h"
#include "ops/router_scores.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

ScoredRouterArgs args_of(RouterScore score, int k, float tau, float scaling) {
  ScoredRouterArgs a;
  a.top_k = k;
  a.score = score;
  a.temperature = tau;
  a.scaling = scaling;
  return a;
}

// One router call in fp64: N tokens, E experts, the biases (E) and the arguments.
struct ScoredCase {
  int64_t N = 7, E = 6;
  ScoredRouterArgs args;
  std::vector<double> logits = random_vector<double>(N * E, 51, -2.0, 2.0);
  std::vector<double> bias = random_vector<double>(E, 52, -0.3, 0.3);

  std::vector<double> gates(const std::vector<double>& l, std::vector<int32_t>* idx_out = nullptr) {
    const int64_t k = args.top_k;
    std::vector<int32_t> idx(N * k);
    std::vector<double> g(N * k);
    cpu::scored_router_forward<double>(idx.data(), g.data(), l.data(), bias.data(), N, E, k, args);
    if (idx_out) *idx_out = idx;
    return g;
  }
};

// The definition written out: scores, a stable sort of score + bias, renormalised kept scores.
TEST(RouterScores, ForwardMatchesDefinition) {
  for (RouterScore score : {RouterScore::Sigmoid, RouterScore::Softmax}) {
    ScoredCase c;
    c.args = args_of(score, 3, 0.75f, score == RouterScore::Sigmoid ? 2.5f : 1.0f);
    std::vector<int32_t> idx;
    const auto g = c.gates(c.logits, &idx);
    const int64_t k = c.args.top_k;
    for (int64_t n = 0; n < c.N; ++n) {
      std::vector<double> s(c.E);
      double sum = 0.0;
      for (int64_t e = 0; e < c.E; ++e) {
        const double l = c.logits[n * c.E + e];
        s[e] = score == RouterScore::Sigmoid ? sigmoid(l) : std::exp(l / 0.75);
        sum += s[e];
      }
      if (score == RouterScore::Softmax)
        for (double& v : s)
          v /= sum;
      std::vector<int32_t> order(c.E);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int32_t a, int32_t b) { return s[a] + c.bias[a] > s[b] + c.bias[b]; });
      double kept = 0.0;
      for (int64_t j = 0; j < k; ++j)
        kept += s[order[j]];
      for (int64_t j = 0; j < k; ++j) {
        EXPECT_EQ(idx[n * k + j], order[j]);
        EXPECT_NEAR(g[n * k + j], c.args.scaling * s[order[j]] / kept, 1e-12);
      }
    }
  }
}

// The biases change the selection (some token keeps an expert that is not among its top-k
// scores), and the gates still come from the unbiased scores.
TEST(RouterScores, BiasSteersSelectionOnly) {
  ScoredCase c;
  c.args = args_of(RouterScore::Sigmoid, 2, 1.0f, 1.0f);
  std::vector<int32_t> with_bias;
  c.gates(c.logits, &with_bias);
  c.bias.assign(c.E, 0.0);
  std::vector<int32_t> without_bias;
  c.gates(c.logits, &without_bias);
  EXPECT_NE(with_bias, without_bias);
  c.bias.assign(c.E, 0.25);  // a uniform bias changes nothing
  std::vector<int32_t> uniform;
  c.gates(c.logits, &uniform);
  EXPECT_EQ(uniform, without_bias);
}

void check_backward(RouterScore score, float scaling) {
  ScoredCase c;
  c.args = args_of(score, 3, 0.7f, scaling);
  const int64_t k = c.args.top_k;
  std::vector<int32_t> idx;
  const auto g = c.gates(c.logits, &idx);
  const auto w = random_vector<double>(c.N * k, 53);
  std::vector<double> dlogits(c.N * c.E, 7.0);
  cpu::scored_router_backward<double>(dlogits.data(), w.data(), idx.data(), g.data(),
                                      c.logits.data(), c.N, c.E, k, c.args);
  const auto num = numeric_gradient(
      [&](const std::vector<double>& l) { return weighted_sum(c.gates(l), w); }, c.logits);
  EXPECT_LE(rel_error(dlogits, num), 1e-6);
}

TEST(RouterScores, BackwardFiniteDifferenceSigmoid) {
  check_backward(RouterScore::Sigmoid, 2.5f);
}
TEST(RouterScores, BackwardFiniteDifferenceSoftmax) {
  check_backward(RouterScore::Softmax, 1.0f);
}

// The losses of sigmoid scores: aux on P = s / sum s, z on the logits, entropy of P, written out
// (their gradient: RouterLossesGradient in test_moe_router.cpp).
TEST(RouterScores, SigmoidLossesMatchDefinition) {
  const int64_t N = 9, E = 5, k = 2;
  const auto logits = random_vector<double>(N * E, 61, -3.0, 3.0);
  const std::vector<int32_t> idx = {0, 1, 1, 2, 3, 4, 0, 2, 1, 4, 1, 3, 0, 1, 2, 3, 1, 0};
  std::vector<double> f(E);
  double stats[3];
  cpu::router_losses_forward<double>(stats, f.data(), logits.data(), idx.data(), N, E, k,
                                     {RouterScore::Sigmoid, 1.0f});
  std::vector<double> ref_f(E, 0.0), mean_p(E, 0.0);
  for (int32_t e : idx)
    ref_f[e] += 1.0 / (N * k);
  double z = 0.0, entropy = 0.0, aux = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    double sum_s = 0.0, sum_exp = 0.0;
    for (int64_t e = 0; e < E; ++e) {
      sum_s += sigmoid(logits[n * E + e]);
      sum_exp += std::exp(logits[n * E + e]);
    }
    z += std::pow(std::log(sum_exp), 2) / N;
    for (int64_t e = 0; e < E; ++e) {
      const double p = sigmoid(logits[n * E + e]) / sum_s;
      mean_p[e] += p / N;
      entropy -= p * std::log(p) / N;
    }
  }
  for (int64_t e = 0; e < E; ++e)
    aux += E * ref_f[e] * mean_p[e];
  EXPECT_LE(rel_error(f, ref_f), 1e-14);
  EXPECT_NEAR(stats[0], aux, 1e-12);
  EXPECT_NEAR(stats[1], z, 1e-12);
  EXPECT_NEAR(stats[2], entropy, 1e-12);
}

// Counts over two micro-batches, then the sign rule: above the mean down, below up, at the mean
// unchanged; the loads are cleared for the next step.
TEST(RouterScores, BiasUpdateFollowsTheStepsLoad) {
  const int64_t E = 4;
  std::vector<double> load(E, 0.0);
  std::vector<int32_t> batch1 = {0, 1, 0, 2, 0, 1}, batch2 = {0, 2, 0, 1, 3, 0};
  Tensor tl = cpu_tensor(load.data(), {E});
  ops::router_load_accumulate(tl, cpu_tensor(batch1.data(), {3, 2}));
  ops::router_load_accumulate(tl, cpu_tensor(batch2.data(), {3, 2}));
  EXPECT_EQ(load, (std::vector<double>{6, 3, 2, 1}));  // mean 3: expert 1 sits at it
  std::vector<float> bias = {0.5f, 0.5f, 0.5f, 0.5f};
  ops::router_bias_update(cpu_tensor(bias.data(), {E}), tl, 0.125f);
  EXPECT_EQ(bias, (std::vector<float>{0.375f, 0.5f, 0.625f, 0.625f}));
  EXPECT_EQ(load, (std::vector<double>(E, 0.0)));
  load = {5, 0, 0, 0};
  ops::router_bias_update(cpu_tensor(bias.data(), {E}), tl, 0.0f);  // gamma 0: only clears
  EXPECT_EQ(bias, (std::vector<float>{0.375f, 0.5f, 0.625f, 0.625f}));
  EXPECT_EQ(load, (std::vector<double>(E, 0.0)));
}

// Counts beyond the range of I32, as the loads of a long step summed over many processes reach:
// whole numbers in F64 stay exact, and one assignment above the mean still tips the sign.
TEST(RouterScores, BiasUpdateSignsAreExactForLargeCounts) {
  const int64_t E = 3;
  const double big = 3.0 * (1LL << 40);  // total 3 * big, mean big
  std::vector<double> load = {big + 1.0, big, big - 1.0};
  std::vector<float> bias = {0.0f, 0.0f, 0.0f};
  ops::router_bias_update(cpu_tensor(bias.data(), {E}), cpu_tensor(load.data(), {E}), 0.25f);
  EXPECT_EQ(bias, (std::vector<float>{-0.25f, 0.0f, 0.25f}));
}

TEST(RouterScores, RejectsBadArguments) {
  const int64_t N = 3, E = 4;
  std::vector<float> logits(N * E), gates(N * 2), bias(E + 1), dl(N * E);
  std::vector<int32_t> idx(N * 2), counts(E);
  std::vector<double> load(E);
  Tensor tl = cpu_tensor(logits.data(), {N, E});
  ScoredRouterArgs args = args_of(RouterScore::Sigmoid, 2, 1.0f, 1.0f);
  EXPECT_THROW(
      ops::scored_router_forward(cpu_tensor(idx.data(), {N, 2}), cpu_tensor(gates.data(), {N, 2}),
                                 tl, cpu_tensor(bias.data(), {E + 1}), args),
      Error);
  args.scaling = 0.0f;
  EXPECT_THROW(ops::scored_router_forward(cpu_tensor(idx.data(), {N, 2}),
                                          cpu_tensor(gates.data(), {N, 2}), tl, Tensor{}, args),
               Error);
  args.scaling = 1.0f;
  args.top_k = 5;
  EXPECT_THROW(ops::scored_router_backward(
                   cpu_tensor(dl.data(), {N, E}), cpu_tensor(gates.data(), {N, 2}),
                   cpu_tensor(idx.data(), {N, 2}), cpu_tensor(gates.data(), {N, 2}), tl, args),
               Error);
  idx[0] = E;  // not an expert
  EXPECT_THROW(
      ops::router_load_accumulate(cpu_tensor(load.data(), {E}), cpu_tensor(idx.data(), {N, 2})),
      Error);
  EXPECT_THROW(
      ops::router_bias_update(cpu_tensor(bias.data(), {E}), cpu_tensor(load.data(), {E}), -0.1f),
      Error);
  EXPECT_THROW(
      ops::router_bias_update(cpu_tensor(bias.data(), {E}), cpu_tensor(logits.data(), {E}), 0.1f),
      Error);
  // Loads are F64: I32 counts would not survive the sum over processes.
  idx[0] = 0;
  EXPECT_THROW(
      ops::router_load_accumulate(cpu_tensor(counts.data(), {E}), cpu_tensor(idx.data(), {N, 2})),
      Error);
  EXPECT_THROW(
      ops::router_bias_update(cpu_tensor(bias.data(), {E}), cpu_tensor(counts.data(), {E}), 0.1f),
      Error);
}

}  // namespace
}  // namespace moe
