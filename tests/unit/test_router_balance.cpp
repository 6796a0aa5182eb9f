// Balance losses over segments of the tokens (ops/router_balance.h): the sequence-wise loss of
// DeepSeek-V3 and the Switch loss with the optimizer step's expert fractions.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/cpu/router_balance.h"
#include "backends/cpu/softmax_xent.h"
#include "core/check.h"
#include "model/model.h"
#include "ops/elementwise.h"
#include "ops/router_balance.h"
#include "ops/softmax_xent.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

// Straight from DeepSeek-V3's eq. 17-20, per sequence: f_i = E/(K T) * count_i, P_i = mean_t
// s'_{i,t}, L = sum_i f_i P_i, averaged over the sequences.
double ref_seq_aux(const std::vector<double>& scores, const std::vector<int32_t>& idx, int64_t S,
                   int64_t T, int64_t E, int64_t k) {
  double total = 0.0;
  for (int64_t s = 0; s < S; ++s) {
    std::vector<double> f(E, 0.0), p(E, 0.0);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t j = 0; j < k; ++j)
        f[idx[(s * T + t) * k + j]] += static_cast<double>(E) / static_cast<double>(k * T);
      for (int64_t e = 0; e < E; ++e)
        p[e] += scores[(s * T + t) * E + e] / static_cast<double>(T);
    }
    for (int64_t e = 0; e < E; ++e)
      total += f[e] * p[e];
  }
  return total / static_cast<double>(S);
}

std::vector<int32_t> routing(int64_t N, int64_t k, int64_t E, uint32_t seed) {
  std::vector<int32_t> idx(N * k);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < k; ++j)
      idx[n * k + j] = static_cast<int32_t>((n * 7 + j * 3 + seed) % E);
  return idx;
}

TEST(RouterBalance, SequenceLossMatchesDefinition) {
  const int64_t S = 3, T = 5, E = 4, k = 2, N = S * T;
  auto scores = random_vector<double>(N * E, 3, 0.0, 1.0);
  const auto idx = routing(N, k, E, 1);
  std::vector<double> fraction(S * E);
  cpu::segment_fractions<double>(fraction.data(), idx.data(), S, T, E, k);
  double loss = 0.0;
  cpu::balance_loss_forward<double>(&loss, scores.data(), fraction.data(), S, T, E);
  EXPECT_NEAR(loss, ref_seq_aux(scores, idx, S, T, E, k), 1e-12);
  // Each sequence's fractions are shares of its own T*k assignments.
  for (int64_t s = 0; s < S; ++s) {
    double sum = 0.0;
    for (int64_t e = 0; e < E; ++e)
      sum += fraction[s * E + e];
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
}

// The gradient with the fractions held constant (they count discrete choices), through the
// softmax of the logits, against central differences of softmax -> balance_loss_forward.
TEST(RouterBalance, BackwardThroughSoftmaxFiniteDifference) {
  const int64_t S = 2, T = 4, E = 5, k = 2, N = S * T;
  const double tau = 0.7, coef = 0.9;
  auto logits = random_vector<double>(N * E, 5, -2.0, 2.0);
  const auto idx = routing(N, k, E, 2);
  std::vector<double> fraction(S * E);
  cpu::segment_fractions<double>(fraction.data(), idx.data(), S, T, E, k);
  auto objective = [&](const std::vector<double>& l) {
    std::vector<double> probs(N * E);
    cpu::softmax_forward<double>(probs.data(), l.data(), tau, N, E);
    double loss = 0.0;
    cpu::balance_loss_forward<double>(&loss, probs.data(), fraction.data(), S, T, E);
    return coef * loss;
  };
  std::vector<double> probs(N * E), dprobs(N * E);
  cpu::softmax_forward<double>(probs.data(), logits.data(), tau, N, E);
  cpu::balance_loss_backward<double>(dprobs.data(), fraction.data(), S, T, E, coef);
  auto prefill = random_vector<double>(N * E, 6);
  std::vector<double> dlogits = prefill;
  cpu::softmax_backward<double>(dlogits.data(), dprobs.data(), probs.data(), N, E, tau);
  for (int64_t i = 0; i < N * E; ++i)
    dlogits[i] -= prefill[i];
  EXPECT_LE(rel_error(dlogits, numeric_gradient(objective, logits)), 1e-6);
}

TEST(RouterBalance, SoftmaxBackwardFiniteDifference) {
  const int64_t N = 6, E = 7;
  const double tau = 1.3;
  auto logits = random_vector<double>(N * E, 8, -3.0, 3.0);
  auto w = random_vector<double>(N * E, 9);
  auto objective = [&](const std::vector<double>& l) {
    std::vector<double> probs(N * E);
    cpu::softmax_forward<double>(probs.data(), l.data(), tau, N, E);
    return weighted_sum(probs, w);
  };
  std::vector<double> probs(N * E), dlogits(N * E, 0.0);
  cpu::softmax_forward<double>(probs.data(), logits.data(), tau, N, E);
  cpu::softmax_backward<double>(dlogits.data(), w.data(), probs.data(), N, E, tau);
  EXPECT_LE(rel_error(dlogits, numeric_gradient(objective, logits)), 1e-6);
}

// DeepSeek-V3's normalised sigmoid scores, s'_{i,t} = s_{i,t} / sum_j s_{j,t} (eq. 19), straight
// from the definition.
std::vector<double> ref_normalized_sigmoid(const std::vector<double>& logits, int64_t N,
                                           int64_t E) {
  std::vector<double> probs(N * E);
  for (int64_t n = 0; n < N; ++n) {
    double sum = 0.0;
    for (int64_t e = 0; e < E; ++e)
      sum += 1.0 / (1.0 + std::exp(-logits[n * E + e]));
    for (int64_t e = 0; e < E; ++e)
      probs[n * E + e] = 1.0 / (1.0 + std::exp(-logits[n * E + e])) / sum;
  }
  return probs;
}

TEST(RouterBalance, NormalizedSigmoidMatchesDefinition) {
  const int64_t N = 5, E = 6;
  auto logits = random_vector<double>(N * E, 11, -30.0, 30.0);  // both tails of the sigmoid
  std::vector<double> probs(N * E);
  cpu::normalized_sigmoid_forward<double>(probs.data(), logits.data(), N, E);
  EXPECT_LE(rel_error(probs, ref_normalized_sigmoid(logits, N, E)), 1e-14);
}

TEST(RouterBalance, NormalizedSigmoidBackwardFiniteDifference) {
  const int64_t N = 6, E = 7;
  auto logits = random_vector<double>(N * E, 12, -3.0, 3.0);
  auto w = random_vector<double>(N * E, 13);
  auto objective = [&](const std::vector<double>& l) {
    std::vector<double> probs(N * E);
    cpu::normalized_sigmoid_forward<double>(probs.data(), l.data(), N, E);
    return weighted_sum(probs, w);
  };
  std::vector<double> probs(N * E), dlogits(N * E, 0.0);
  cpu::normalized_sigmoid_forward<double>(probs.data(), logits.data(), N, E);
  cpu::normalized_sigmoid_backward<double>(dlogits.data(), w.data(), probs.data(), logits.data(), N,
                                           E);
  EXPECT_LE(rel_error(dlogits, numeric_gradient(objective, logits)), 1e-6);
}

// DeepSeek-V3's configuration: the sequence-wise loss of eq. 17-20 on normalised sigmoid scores,
// its value against the definition and its gradient (fractions held constant, added onto what
// dlogits held) against central differences.
TEST(RouterBalance, SequenceLossThroughSigmoidScoresFiniteDifference) {
  const int64_t S = 2, T = 4, E = 5, k = 2, N = S * T;
  const double coef = 0.9;
  auto logits = random_vector<double>(N * E, 14, -2.0, 2.0);
  const auto idx = routing(N, k, E, 4);
  std::vector<double> fraction(S * E);
  cpu::segment_fractions<double>(fraction.data(), idx.data(), S, T, E, k);
  auto objective = [&](const std::vector<double>& l) {
    std::vector<double> probs(N * E);
    cpu::normalized_sigmoid_forward<double>(probs.data(), l.data(), N, E);
    double loss = 0.0;
    cpu::balance_loss_forward<double>(&loss, probs.data(), fraction.data(), S, T, E);
    return coef * loss;
  };
  EXPECT_NEAR(objective(logits) / coef,
              ref_seq_aux(ref_normalized_sigmoid(logits, N, E), idx, S, T, E, k), 1e-12);
  std::vector<double> probs(N * E), dprobs(N * E);
  cpu::normalized_sigmoid_forward<double>(probs.data(), logits.data(), N, E);
  cpu::balance_loss_backward<double>(dprobs.data(), fraction.data(), S, T, E, coef);
  auto prefill = random_vector<double>(N * E, 15);
  std::vector<double> dlogits = prefill;
  cpu::normalized_sigmoid_backward<double>(dlogits.data(), dprobs.data(), probs.data(),
                                           logits.data(), N, E);
  for (int64_t i = 0; i < N * E; ++i)
    dlogits[i] -= prefill[i];
  EXPECT_LE(rel_error(dlogits, numeric_gradient(objective, logits)), 1e-6);
}

// The sigmoid ops in fp32 against the fp64 kernels.
TEST(RouterBalance, NormalizedSigmoidFloatOpsMatchDoubleKernels) {
  const int64_t N = 40, E = 6;
  auto logits = random_vector<float>(N * E, 16, -4.0, 4.0);
  auto dprobs = random_vector<float>(N * E, 17);
  std::vector<float> probs(N * E), dlogits(N * E, 0.5f);
  ops::normalized_sigmoid_forward(cpu_tensor(probs.data(), {N, E}),
                                  cpu_tensor(logits.data(), {N, E}));
  ops::normalized_sigmoid_backward(
      cpu_tensor(dlogits.data(), {N, E}), cpu_tensor(dprobs.data(), {N, E}),
      cpu_tensor(probs.data(), {N, E}), cpu_tensor(logits.data(), {N, E}));
  std::vector<double> ld(logits.begin(), logits.end()), dpd(dprobs.begin(), dprobs.end());
  std::vector<double> pd(N * E), dld(N * E, 0.5);
  cpu::normalized_sigmoid_forward<double>(pd.data(), ld.data(), N, E);
  cpu::normalized_sigmoid_backward<double>(dld.data(), dpd.data(), pd.data(), ld.data(), N, E);
  EXPECT_LE(rel_error(probs, pd), 1e-6);
  EXPECT_LE(rel_error(dlogits, dld), 1e-6);
}

// The ops in fp32 against the fp64 kernels.
TEST(RouterBalance, FloatOpsMatchDoubleKernels) {
  const int64_t S = 4, T = 50, E = 6, k = 2, N = S * T;
  auto logits = random_vector<float>(N * E, 10, -2.0, 2.0);
  const auto idx = routing(N, k, E, 3);
  std::vector<float> probs(N * E), fraction(S * E), dprobs(N * E), dlogits(N * E, 0.5f);
  double loss = 0.0;
  ops::softmax_forward(cpu_tensor(probs.data(), {N, E}), cpu_tensor(logits.data(), {N, E}), 0.8f);
  ops::segment_fractions(cpu_tensor(fraction.data(), {S, E}),
                         cpu_tensor(const_cast<int32_t*>(idx.data()), {N, k}));
  ops::balance_loss_forward(cpu_tensor(&loss, {1}), cpu_tensor(probs.data(), {N, E}),
                            cpu_tensor(fraction.data(), {S, E}));
  ops::balance_loss_backward(cpu_tensor(dprobs.data(), {N, E}), cpu_tensor(fraction.data(), {S, E}),
                             0.01f);
  ops::softmax_backward(cpu_tensor(dlogits.data(), {N, E}), cpu_tensor(dprobs.data(), {N, E}),
                        cpu_tensor(probs.data(), {N, E}), 0.8f);

  std::vector<double> ld(logits.begin(), logits.end()), pd(N * E), fd(S * E), dpd(N * E);
  std::vector<double> dld(N * E, 0.5);
  cpu::softmax_forward<double>(pd.data(), ld.data(), 0.8, N, E);
  cpu::segment_fractions<double>(fd.data(), idx.data(), S, T, E, k);
  double ref = 0.0;
  cpu::balance_loss_forward<double>(&ref, pd.data(), fd.data(), S, T, E);
  cpu::balance_loss_backward<double>(dpd.data(), fd.data(), S, T, E, 0.01);
  cpu::softmax_backward<double>(dld.data(), dpd.data(), pd.data(), N, E, 0.8);
  EXPECT_LE(std::abs(loss - ref) / ref, 1e-6);
  EXPECT_LE(rel_error(fraction, fd), 1e-7);
  EXPECT_LE(rel_error(dlogits, dld), 1e-6);
}

TEST(RouterBalance, RejectsBadArguments) {
  const int64_t N = 6, E = 4;
  std::vector<float> scores(N * E), fraction(4 * E), d(N * E);
  std::vector<int32_t> idx(N * 2, 1);
  double loss = 0.0;
  Tensor ts = cpu_tensor(scores.data(), {N, E});
  // 4 segments do not divide 6 tokens.
  EXPECT_THROW(
      ops::balance_loss_forward(cpu_tensor(&loss, {1}), ts, cpu_tensor(fraction.data(), {4, E})),
      Error);
  EXPECT_THROW(
      ops::segment_fractions(cpu_tensor(fraction.data(), {4, E}), cpu_tensor(idx.data(), {N, 2})),
      Error);
  // Fractions for another number of experts.
  EXPECT_THROW(ops::balance_loss_backward(cpu_tensor(d.data(), {N, E}),
                                          cpu_tensor(fraction.data(), {2, E + 1}), 1.0f),
               Error);
  // An expert index out of range.
  idx[3] = static_cast<int32_t>(E);
  EXPECT_THROW(
      ops::segment_fractions(cpu_tensor(fraction.data(), {2, E}), cpu_tensor(idx.data(), {N, 2})),
      Error);
  EXPECT_THROW(ops::softmax_backward(cpu_tensor(d.data(), {N, E}), ts, ts, 0.0f), Error);
  // Logits of another shape than the scores.
  std::vector<float> wide(N * (E + 1));
  EXPECT_THROW(ops::normalized_sigmoid_forward(cpu_tensor(wide.data(), {N, E + 1}), ts), Error);
  EXPECT_THROW(ops::normalized_sigmoid_backward(cpu_tensor(d.data(), {N, E}), ts, ts,
                                                cpu_tensor(wide.data(), {N, E + 1})),
               Error);
}

// Global-batch balancing: the step's fractions are the counts over all its micro-batches, which
// differ from each micro-batch's own when the micro-batches route differently.
TEST(RouterBalance, StepFractionsCountEveryMicroBatch) {
  ModelConfig m = RunConfig::preset("makemoe").model;
  m.vocab_size = 13;
  m.n_layers = 3;
  m.moe_layers = "every:2";  // dense, MoE, dense: the routing pass stops after layer 1's router
  m.n_embed = 16;
  m.n_heads = 2;
  m.block_size = 4;
  m.ffn_hidden = 16;
  m.n_experts = 4;
  m.top_k = 1;
  m.router = "topk";
  m.dropout = 0.0f;
  m.aux_loss_coef = 0.01f;
  m.aux_loss_scope = "global_batch";
  const int64_t b = 2, t = 4, n = b * t, E = m.n_experts;
  Model model(m);
  model.init_parameters(3);
  model.allocate(b, t);
  ForwardContext ctx;
  ctx.training = true;
  ctx.batch = b;
  ctx.seq = t;
  // Two micro-batches of different tokens.
  std::vector<std::vector<int32_t>> micro = {{0, 1, 2, 3, 4, 5, 6, 7},
                                             {8, 9, 10, 11, 12, 12, 12, 12}};
  std::vector<int32_t> targets(n, 1);
  std::vector<std::vector<float>> own(2, std::vector<float>(E));
  std::vector<double> micro_fractions;  // (2, E)
  for (size_t i = 0; i < micro.size(); ++i) {
    model.route(ctx, cpu_tensor(micro[i].data(), Shape{b, t}));
    ops::copy(cpu_tensor(own[i].data(), Shape{1, E}), model.expert_fractions());
    micro_fractions.insert(micro_fractions.end(), own[i].begin(), own[i].end());
    // The routing pass routes as the training forward does, bit for bit.
    model.forward(ctx, cpu_tensor(micro[i].data(), Shape{b, t}),
                  cpu_tensor(targets.data(), Shape{b, t}));
    EXPECT_EQ(model.read_stats().moe[0].expert_fraction, own[i]);
  }
  // The routing pass leaves the LM head's logits of the last forward as they were.
  std::vector<float> logits(static_cast<size_t>(model.logits().numel())), after(logits.size());
  ops::copy(cpu_tensor(logits.data(), model.logits().shape), model.logits());
  model.route(ctx, cpu_tensor(micro[0].data(), Shape{b, t}));
  ops::copy(cpu_tensor(after.data(), model.logits().shape), model.logits());
  EXPECT_EQ(after, logits);
  model.set_step_fractions(micro_fractions);
  std::vector<float> step(E);
  ops::copy(cpu_tensor(step.data(), Shape{1, E}), model.step_fractions());
  ASSERT_NE(own[0], own[1]) << "the micro-batches must route differently for this test";
  for (int64_t e = 0; e < E; ++e) {
    // Counts of both micro-batches over their 2 n k assignments.
    const double count = (own[0][e] + own[1][e]) * static_cast<double>(n);
    EXPECT_NEAR(step[e], count / static_cast<double>(2 * n), 1e-7);
  }
  EXPECT_NE(step, own[0]);
  EXPECT_NE(step, own[1]);

  // The Switch loss of a training forward uses the step's fractions: E * sum_e f_step P_e.
  ctx.step_aux_fraction = true;
  model.forward(ctx, cpu_tensor(micro[0].data(), Shape{b, t}),
                cpu_tensor(targets.data(), Shape{b, t}));
  const double with_step = model.read_stats().moe[0].aux_loss;
  ctx.step_aux_fraction = false;
  model.forward(ctx, cpu_tensor(micro[0].data(), Shape{b, t}),
                cpu_tensor(targets.data(), Shape{b, t}));
  const double with_own = model.read_stats().moe[0].aux_loss;
  EXPECT_GT(std::abs(with_step - with_own), 1e-6);
}

}  // namespace
}  // namespace moe
