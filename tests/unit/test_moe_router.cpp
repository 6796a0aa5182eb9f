#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/cpu/moe_router.h"
#include "core/check.h"
#include "ops/moe_router.h"
#include "test_util.h"

namespace moe {
namespace {

struct Losses {
  double aux_loss, z_loss, entropy;
};

// router_losses_forward with its statistics (F64 on the device) read back.
Losses router_losses(Tensor fraction, const Tensor& logits, const Tensor& topk_idx, float tau) {
  double stats[ops::kRouterLossStats] = {};
  ops::router_losses_forward(cpu_tensor(stats, {ops::kRouterLossStats}), fraction, logits, topk_idx,
                             {RouterScore::Softmax, tau});
  return {stats[ops::kAuxLoss], stats[ops::kZLoss], stats[ops::kEntropy]};
}

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

std::vector<double> to_double(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}

struct RefGate {
  std::vector<int32_t> idx;
  std::vector<double> gates;
};

// Straight from the definition: score every expert, stable-sort by descending score (so ties
// keep the lower index first), softmax over the first k.
RefGate ref_router(const std::vector<double>& logits, const std::vector<double>* noise_logits,
                   const std::vector<double>* noise_eps, int64_t N, int64_t E, int64_t k,
                   double tau) {
  RefGate r{std::vector<int32_t>(N * k), std::vector<double>(N * k)};
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> s(E);
    for (int64_t e = 0; e < E; ++e) {
      double sel = logits[n * E + e];
      if (noise_logits)
        sel += (*noise_eps)[n * E + e] * std::log(1.0 + std::exp((*noise_logits)[n * E + e]));
      s[e] = sel / tau;
    }
    std::vector<int32_t> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return s[a] > s[b]; });
    double sum = 0;
    for (int64_t j = 0; j < k; ++j)
      sum += std::exp(s[order[j]]);
    for (int64_t j = 0; j < k; ++j) {
      r.idx[n * k + j] = order[j];
      r.gates[n * k + j] = std::exp(s[order[j]]) / sum;
    }
  }
  return r;
}

void run_forward_reference(int64_t N, int64_t E, int64_t k, float tau, bool noisy) {
  auto logits = random_vector<float>(N * E, 1, -2.0, 2.0);
  auto noise_logits = random_vector<float>(N * E, 2, -3.0, 3.0);
  auto noise_eps = random_vector<float>(N * E, 3, -1.5, 1.5);
  std::vector<int32_t> idx(N * k);
  std::vector<float> gates(N * k);
  Tensor nl, ne;
  if (noisy) {
    nl = cpu_tensor(noise_logits.data(), {N, E});
    ne = cpu_tensor(noise_eps.data(), {N, E});
  }
  ops::router_forward(cpu_tensor(idx.data(), {N, k}), cpu_tensor(gates.data(), {N, k}),
                      cpu_tensor(logits.data(), {N, E}), nl, ne,
                      ops::RouterArgs{static_cast<int>(k), tau});
  auto nld = to_double(noise_logits), ned = to_double(noise_eps);
  RefGate ref =
      ref_router(to_double(logits), noisy ? &nld : nullptr, noisy ? &ned : nullptr, N, E, k, tau);
  EXPECT_EQ(idx, ref.idx);
  EXPECT_LE(rel_error(gates, ref.gates), 1e-5);
}

TEST(MoeRouter, ForwardMatchesReferenceClean) {
  run_forward_reference(2500, 8, 2, 1.0f, false);
}

TEST(MoeRouter, ForwardMatchesReferenceNoisyTemperature) {
  run_forward_reference(29, 6, 3, 0.7f, true);
}

TEST(MoeRouter, ForwardTopKEqualsExpertsIsFullSoftmax) {
  run_forward_reference(11, 5, 5, 1.3f, false);
}

TEST(MoeRouter, TiesGoToLowerIndex) {
  const int64_t N = 2, E = 5, k = 3;
  std::vector<float> logits = {1, 3, 3, 2, 3,  //
                               0, 0, 0, 0, 0};
  std::vector<int32_t> idx(N * k);
  std::vector<float> gates(N * k);
  ops::router_forward(cpu_tensor(idx.data(), {N, k}), cpu_tensor(gates.data(), {N, k}),
                      cpu_tensor(logits.data(), {N, E}), Tensor{}, Tensor{}, {3, 1.0f});
  EXPECT_EQ(idx, (std::vector<int32_t>{1, 2, 4, 0, 1, 2}));
  for (float g : gates)
    EXPECT_NEAR(g, 1.0f / 3.0f, 1e-7f);
}

// Inputs for gradient checks: each row's logits are a permutation of 0..E-1 spaced by 0.5 plus
// jitter, and the noise term is at most ~0.15, so no top-k tie is within reach of +/- h.
struct GradCase {
  int64_t N = 5, E = 6, k = 2;
  double tau = 0.8;
  std::vector<double> logits, noise_logits, noise_eps;
  GradCase() {
    auto jitter = random_vector<double>(N * E, 11, -0.1, 0.1);
    noise_logits = random_vector<double>(N * E, 12, -1.0, 1.0);
    noise_eps = random_vector<double>(N * E, 13, -0.1, 0.1);
    logits.resize(N * E);
    for (int64_t n = 0; n < N; ++n) {
      std::vector<int> perm(E);
      std::iota(perm.begin(), perm.end(), 0);
      std::rotate(perm.begin(), perm.begin() + (3 * n) % E, perm.end());
      if (n % 2) std::reverse(perm.begin(), perm.end());
      for (int64_t e = 0; e < E; ++e)
        logits[n * E + e] = 0.5 * perm[e] + jitter[n * E + e];
    }
  }
  std::vector<double> gates(const std::vector<double>& l, const std::vector<double>* nl,
                            std::vector<int32_t>* idx_out = nullptr) const {
    std::vector<int32_t> idx(N * k);
    std::vector<double> g(N * k);
    cpu::router_forward<double>(idx.data(), g.data(), l.data(), nl ? nl->data() : nullptr,
                                nl ? noise_eps.data() : nullptr, N, E, k, tau);
    if (idx_out) *idx_out = idx;
    return g;
  }
};

void check_router_backward(bool noisy) {
  GradCase c;
  const std::vector<double>* nl = noisy ? &c.noise_logits : nullptr;
  std::vector<int32_t> idx;
  auto g = c.gates(c.logits, nl, &idx);
  auto w = random_vector<double>(c.N * c.k, 14);
  std::vector<double> dlogits(c.N * c.E, 7.0), dnoise(c.N * c.E, 7.0);
  cpu::router_backward<double>(dlogits.data(), noisy ? dnoise.data() : nullptr, w.data(),
                               idx.data(), g.data(), noisy ? c.noise_logits.data() : nullptr,
                               noisy ? c.noise_eps.data() : nullptr, c.N, c.E, c.k, c.tau);
  auto num_dlogits = numeric_gradient(
      [&](const std::vector<double>& l) { return weighted_sum(c.gates(l, nl), w); }, c.logits);
  EXPECT_LE(rel_error(dlogits, num_dlogits), 1e-6);
  if (noisy) {
    auto num_dnoise = numeric_gradient(
        [&](const std::vector<double>& v) { return weighted_sum(c.gates(c.logits, &v), w); },
        c.noise_logits);
    EXPECT_LE(rel_error(dnoise, num_dnoise), 1e-6);
  }
}

TEST(MoeRouter, BackwardFiniteDifferenceClean) {
  check_router_backward(false);
}
TEST(MoeRouter, BackwardFiniteDifferenceNoisy) {
  check_router_backward(true);
}

TEST(MoeRouter, BackwardFloatOpMatchesDoubleKernel) {
  GradCase c;
  std::vector<int32_t> idx;
  auto g = c.gates(c.logits, &c.noise_logits, &idx);
  auto w = random_vector<double>(c.N * c.k, 15);
  std::vector<double> dl(c.N * c.E), dn(c.N * c.E);
  cpu::router_backward<double>(dl.data(), dn.data(), w.data(), idx.data(), g.data(),
                               c.noise_logits.data(), c.noise_eps.data(), c.N, c.E, c.k, c.tau);
  std::vector<float> gf(g.begin(), g.end()), wf(w.begin(), w.end());
  std::vector<float> nlf(c.noise_logits.begin(), c.noise_logits.end());
  std::vector<float> nef(c.noise_eps.begin(), c.noise_eps.end());
  std::vector<float> dlf(c.N * c.E, 5.0f), dnf(c.N * c.E, 5.0f);
  const int64_t N = c.N, E = c.E, k = c.k;
  ops::router_backward(
      cpu_tensor(dlf.data(), {N, E}), cpu_tensor(dnf.data(), {N, E}), cpu_tensor(wf.data(), {N, k}),
      cpu_tensor(idx.data(), {N, k}), cpu_tensor(gf.data(), {N, k}), cpu_tensor(nlf.data(), {N, E}),
      cpu_tensor(nef.data(), {N, E}), {static_cast<int>(k), static_cast<float>(c.tau)});
  EXPECT_LE(rel_error(dlf, dl), 1e-5);
  EXPECT_LE(rel_error(dnf, dn), 1e-5);
}

struct RefLosses {
  double aux, z, entropy;
  std::vector<double> f;
};

RefLosses ref_losses(const std::vector<double>& logits, const std::vector<int32_t>& idx, int64_t N,
                     int64_t E, int64_t k, double tau) {
  RefLosses r{0, 0, 0, std::vector<double>(E, 0.0)};
  for (int32_t e : idx)
    r.f[e] += 1.0 / static_cast<double>(N * k);
  std::vector<double> mean_p(E, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    double sum = 0, sum_tau = 0;
    for (int64_t e = 0; e < E; ++e) {
      sum += std::exp(logits[n * E + e]);
      sum_tau += std::exp(logits[n * E + e] / tau);
    }
    r.z += std::pow(std::log(sum), 2) / N;
    for (int64_t e = 0; e < E; ++e) {
      double p = std::exp(logits[n * E + e] / tau) / sum_tau;
      mean_p[e] += p / N;
      r.entropy -= p * std::log(p) / N;
    }
  }
  for (int64_t e = 0; e < E; ++e)
    r.aux += E * r.f[e] * mean_p[e];
  return r;
}

TEST(MoeRouter, LossesForwardMatchesReference) {
  const int64_t N = 41, E = 7, k = 2;
  const float tau = 0.6f;
  auto logits = random_vector<float>(N * E, 21, -3.0, 3.0);
  std::vector<int32_t> idx(N * k);
  std::vector<float> gates(N * k), f(E);
  Tensor tl = cpu_tensor(logits.data(), {N, E}), ti = cpu_tensor(idx.data(), {N, k});
  ops::router_forward(ti, cpu_tensor(gates.data(), {N, k}), tl, Tensor{}, Tensor{}, {2, tau});
  const Losses st = router_losses(cpu_tensor(f.data(), {E}), tl, ti, tau);
  RefLosses ref = ref_losses(to_double(logits), idx, N, E, k, tau);
  EXPECT_LE(std::abs(st.aux_loss - ref.aux) / ref.aux, 1e-5);
  EXPECT_LE(std::abs(st.z_loss - ref.z) / ref.z, 1e-5);
  EXPECT_LE(std::abs(st.entropy - ref.entropy) / ref.entropy, 1e-5);
  EXPECT_LE(rel_error(f, ref.f), 1e-6);
  EXPECT_LE(st.entropy, std::log(static_cast<float>(E)));
}

}  // namespace

// The score in a test's parameter line.
void PrintTo(RouterScore score, std::ostream* os) {
  *os << (score == RouterScore::Softmax ? "softmax" : "sigmoid");
}

namespace {

// Gradient of aux_coef * aux + z_coef * z with f fixed (it is a function of topk_idx only), for
// each score function.
class RouterLossesGradient : public ::testing::TestWithParam<RouterScore> {
 protected:
  void check(double aux_coef, double z_coef) {
    const int64_t N = 6, E = 5, k = 2;
    const ops::RouterLossArgs args{GetParam(), 0.6f};
    auto logits = random_vector<double>(N * E, 31, -2.0, 2.0);
    std::vector<int32_t> idx = {0, 1, 1, 2, 3, 4, 0, 2, 1, 4, 1, 3};
    std::vector<double> f(E);
    auto objective = [&](const std::vector<double>& l) {
      double losses[3];
      std::vector<double> f_tmp(E);
      cpu::router_losses_forward<double>(losses, f_tmp.data(), l.data(), idx.data(), N, E, k, args);
      return aux_coef * losses[0] + z_coef * losses[1];
    };
    double losses[3];
    cpu::router_losses_forward<double>(losses, f.data(), logits.data(), idx.data(), N, E, k, args);
    auto prefill = random_vector<double>(N * E, 32);
    std::vector<double> dlogits = prefill;
    cpu::router_losses_backward<double>(dlogits.data(), logits.data(), f.data(), N, E, args,
                                        aux_coef, z_coef);
    for (int64_t i = 0; i < N * E; ++i)
      dlogits[i] -= prefill[i];
    EXPECT_LE(rel_error(dlogits, numeric_gradient(objective, logits)), 1e-6);
  }
};

TEST_P(RouterLossesGradient, FiniteDifferenceAux) {
  check(0.7, 0.0);
}
TEST_P(RouterLossesGradient, FiniteDifferenceZ) {
  check(0.0, 1.3);
}
INSTANTIATE_TEST_SUITE_P(Scores, RouterLossesGradient,
                         ::testing::Values(RouterScore::Softmax, RouterScore::Sigmoid),
                         [](const auto& info) {
                           return info.param == RouterScore::Softmax ? "Softmax" : "Sigmoid";
                         });

TEST(MoeRouter, LossesBackwardFloatOpMatchesDoubleKernel) {
  const int64_t N = 5000, E = 4;
  const float tau = 1.7f;
  auto logits = random_vector<float>(N * E, 41, -2.0, 2.0);
  std::vector<float> f = {0.5f, 0.25f, 0.0f, 0.25f};
  std::vector<float> dl(N * E, 0.25f);
  const ops::RouterLossArgs args{RouterScore::Softmax, tau};
  ops::router_losses_backward(cpu_tensor(dl.data(), {N, E}), cpu_tensor(logits.data(), {N, E}),
                              cpu_tensor(f.data(), {E}), args, 0.01f, 0.001f);
  auto ld = to_double(logits), fd = to_double(f);
  std::vector<double> ref(N * E, 0.25);
  cpu::router_losses_backward<double>(ref.data(), ld.data(), fd.data(), N, E, args, 0.01, 0.001);
  EXPECT_LE(rel_error(dl, ref), 1e-5);
}

TEST(MoeRouter, RejectsBadArguments) {
  const int64_t N = 3, E = 4;
  std::vector<float> logits(N * E), gates(N * 5), f(E), dl(N * E);
  std::vector<int32_t> idx(N * 5);
  Tensor tl = cpu_tensor(logits.data(), {N, E});
  auto fwd = [&](int64_t k, ops::RouterArgs args) {
    ops::router_forward(cpu_tensor(idx.data(), {N, k}), cpu_tensor(gates.data(), {N, k}), tl,
                        Tensor{}, Tensor{}, args);
  };
  EXPECT_THROW(fwd(5, {5, 1.0f}), Error);  // top_k > E
  EXPECT_THROW(fwd(0, {0, 1.0f}), Error);  // top_k < 1
  EXPECT_THROW(fwd(2, {2, 0.0f}), Error);  // temperature
  EXPECT_THROW(fwd(3, {2, 1.0f}), Error);  // outputs sized for another k
  EXPECT_THROW(ops::router_forward(cpu_tensor(idx.data(), {N, 2}), cpu_tensor(gates.data(), {N, 2}),
                                   tl, tl, Tensor{}, {2, 1.0f}),
               Error);  // noise_logits without noise_eps
  EXPECT_THROW(
      ops::router_forward(cpu_tensor(gates.data(), {N, 2}), cpu_tensor(gates.data(), {N, 2}), tl,
                          Tensor{}, Tensor{}, {2, 1.0f}),
      Error);  // topk_idx must be I32
  EXPECT_THROW(
      router_losses(cpu_tensor(f.data(), {E + 1}), tl, cpu_tensor(idx.data(), {N, 2}), 1.0f),
      Error);
  EXPECT_THROW(ops::router_losses_backward(cpu_tensor(dl.data(), {N, E - 1}), tl,
                                           cpu_tensor(f.data(), {E}), {}, 1.0f, 1.0f),
               Error);
}

TEST(MoeRouter, RejectsExpertIndexOutOfRange) {
  const int64_t N = 2, E = 4, k = 2;
  std::vector<float> logits(N * E), f(E), dl(N * E), g(N * k, 0.5f);
  for (int32_t bad : {4, -1}) {
    std::vector<int32_t> idx = {0, 1, 2, bad};
    Tensor ti = cpu_tensor(idx.data(), {N, k});
    EXPECT_THROW(
        router_losses(cpu_tensor(f.data(), {E}), cpu_tensor(logits.data(), {N, E}), ti, 1.0f),
        Error);
    EXPECT_THROW(
        ops::router_backward(cpu_tensor(dl.data(), {N, E}), Tensor{}, cpu_tensor(g.data(), {N, k}),
                             ti, cpu_tensor(g.data(), {N, k}), Tensor{}, Tensor{}, {2, 1.0f}),
        Error);
  }
}

}  // namespace
}  // namespace moe
