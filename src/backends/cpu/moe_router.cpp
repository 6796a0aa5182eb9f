#include "backends/cpu/moe_router.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/parallel.h"
#include "backends/cpu/router_balance.h"
#include "backends/cpu/sigmoid.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {

namespace {

// softplus(x) = log(1 + e^x) written as max(x, 0) + log1p(e^-|x|), which neither overflows for
// large x nor loses the tail for very negative x.
template <typename T>
T softplus(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

}  // namespace

template <typename T>
void router_forward(int32_t* topk_idx, T* gates, const T* logits, const T* noise_logits,
                    const T* noise_eps, int64_t N, int64_t E, int64_t k, T temperature) {
  const T inv_tau = T(1) / temperature;
#pragma omp parallel for schedule(static) if (N * E * kTranscendentalWork > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* l = logits + n * E;
    const T* nl = noise_logits ? noise_logits + n * E : nullptr;
    const T* eps = noise_eps ? noise_eps + n * E : nullptr;
    int32_t* idx = topk_idx + n * k;
    T* g = gates + n * k;
    // The row's scores, computed once (a softplus each) and reused by every pick. Per thread and
    // kept between calls, so a training step allocates nothing.
    thread_local std::vector<T> row_scores;
    row_scores.resize(static_cast<size_t>(E));
    T* scores = row_scores.data();
    for (int64_t e = 0; e < E; ++e)
      scores[e] = (nl ? l[e] + eps[e] * softplus(nl[e]) : l[e]) * inv_tau;
    // Selection sort: pick j is the largest score (lowest index on ties) among the experts that
    // come after pick j-1 in that order. The kept scores are parked in the gate row so every
    // comparison and the softmax see the very same values.
    for (int64_t j = 0; j < k; ++j) {
      int64_t best = -1;
      T best_s = T(0);
      for (int64_t e = 0; e < E; ++e) {
        const T s = scores[e];
        if (j > 0 && !(s < g[j - 1] || (s == g[j - 1] && e > idx[j - 1]))) continue;
        if (best < 0 || s > best_s) {
          best = e;
          best_s = s;
        }
      }
      idx[j] = static_cast<int32_t>(best);
      g[j] = best_s;
    }
    // Softmax over the kept scores; g[0] is their maximum.
    const T top = g[0];
    T sum = T(0);
    for (int64_t j = 0; j < k; ++j) {
      g[j] = std::exp(g[j] - top);
      sum += g[j];
    }
    for (int64_t j = 0; j < k; ++j)
      g[j] /= sum;
  }
}

template <typename T>
void router_backward(T* dlogits, T* dnoise_logits, const T* dgates, const int32_t* topk_idx,
                     const T* gates, const T* noise_logits, const T* noise_eps, int64_t N,
                     int64_t E, int64_t k, T temperature) {
  const T inv_tau = T(1) / temperature;
#pragma omp parallel for schedule(static) if (N * E > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* g = gates + n * k;
    const T* dg = dgates + n * k;
    const int32_t* idx = topk_idx + n * k;
    T* dl = dlogits + n * E;
    std::fill(dl, dl + E, T(0));
    T* dnl = dnoise_logits ? dnoise_logits + n * E : nullptr;
    if (dnl) std::fill(dnl, dnl + E, T(0));
    // Softmax Jacobian over the kept scores: ds_j = g_j (dg_j - sum_i g_i dg_i).
    T dot = T(0);
    for (int64_t j = 0; j < k; ++j)
      dot += g[j] * dg[j];
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = idx[j];
      const T dsel = g[j] * (dg[j] - dot) * inv_tau;
      dl[e] = dsel;
      // sel = logits + eps * softplus(noise_logits), and softplus' = sigmoid.
      if (dnl) dnl[e] = dsel * noise_eps[n * E + e] * sigmoid(noise_logits[n * E + e]);
    }
  }
}

namespace {

// The router losses of one score function (kSoftmax: softmax(l / tau), else sigmoid(l)), a
// compile-time choice so that each keeps the arithmetic of a kernel written for it alone.
// P_e = u_e / sum_u with u_e = exp((l_e - m) / tau) (softmax) or sigmoid(l_e).
template <bool kSoftmax, typename T>
void losses_forward(double* stats, const T* expert_fraction, const T* logits, int64_t N, int64_t E,
                    double inv_tau) {
  // The column means of P are a reduction over tokens; one sequential pass keeps its order fixed
  // (so the result is independent of the thread count) and costs O(N*E), far below the router
  // GEMM that produced the logits.
  double aux = 0.0, z = 0.0, entropy = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const T* l = logits + n * E;
    double m = static_cast<double>(l[0]);
    for (int64_t e = 1; e < E; ++e)
      m = std::max(m, static_cast<double>(l[e]));
    double sum = 0.0, sum_u = 0.0;
    for (int64_t e = 0; e < E; ++e) {
      const double x = static_cast<double>(l[e]);
      sum += std::exp(x - m);
      if constexpr (kSoftmax)
        sum_u += std::exp((x - m) * inv_tau);
      else
        sum_u += sigmoid(x);
    }
    const double lse = m + std::log(sum);
    z += lse * lse;
    // -sum P log P = log_norm - sum_e P_e log_score_e, where P_e = exp(log_score_e - log_norm):
    //   softmax: log_score = l / tau, log_norm = logsumexp(l / tau)
    //   sigmoid: log_score = log s,   log_norm = log sum_e s_e
    double log_norm;
    if constexpr (kSoftmax)
      log_norm = m * inv_tau + std::log(sum_u);
    else
      log_norm = std::log(sum_u);
    double h = log_norm;
    for (int64_t e = 0; e < E; ++e) {
      const double x = static_cast<double>(l[e]);
      double p, log_score;
      if constexpr (kSoftmax) {
        log_score = x * inv_tau;
        p = std::exp(log_score - log_norm);
      } else {
        const double s = sigmoid(x);
        log_score = std::log(s);
        p = s / sum_u;
      }
      h -= p * log_score;
      aux += static_cast<double>(expert_fraction[e]) * p;
    }
    entropy += h;
  }
  stats[0] = static_cast<double>(E) * aux / static_cast<double>(N);
  stats[1] = z / static_cast<double>(N);
  stats[2] = entropy / static_cast<double>(N);
}

template <bool kSoftmax, typename T>
void losses_backward(T* dlogits, const T* logits, const T* expert_fraction, int64_t N, int64_t E,
                     T inv_tau, T aux_coef, T z_coef) {
  // aux = E/N * sum_n sum_e f_e P[n,e] with f held constant (it is a count of discrete choices)
  // and P = u / sum_u, so d aux / d log u_i = E/N * P_i (f_i - sum_e f_e P_e), and
  // d log u_i / d l_i = 1 / tau (softmax) or 1 - s_i (sigmoid: s' = s (1 - s)).
  const T aux_scale = aux_coef * static_cast<T>(E) / static_cast<T>(N);
  const T z_scale = z_coef * T(2) / static_cast<T>(N);
#pragma omp parallel for schedule(static) if (N * E * kTranscendentalWork > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* l = logits + n * E;
    T* dl = dlogits + n * E;
    const T m = *std::max_element(l, l + E);
    auto score = [&](int64_t e) {
      if constexpr (kSoftmax)
        return std::exp((l[e] - m) * inv_tau);
      else
        return sigmoid(l[e]);
    };
    T sum = T(0), sum_u = T(0), dot = T(0);
    for (int64_t e = 0; e < E; ++e) {
      sum += std::exp(l[e] - m);
      const T u = score(e);
      sum_u += u;
      dot += u * expert_fraction[e];
    }
    dot /= sum_u;  // sum_e P_e f_e
    // d z_n / d l_e = 2 lse_n softmax(l)_e.
    const T lse = m + std::log(sum);
    for (int64_t e = 0; e < E; ++e) {
      const T u = score(e);
      const T chain = kSoftmax ? inv_tau : T(1) - u;
      const T q = std::exp(l[e] - m) / sum;
      dl[e] += aux_scale * (u / sum_u) * (expert_fraction[e] - dot) * chain + z_scale * lse * q;
    }
  }
}

}  // namespace

template <typename T>
void router_losses_forward(double* stats, T* expert_fraction, const T* logits,
                           const int32_t* topk_idx, int64_t N, int64_t E, int64_t k,
                           const RouterLossArgs& args) {
  segment_fractions(expert_fraction, topk_idx, 1, N, E, k);
  const double inv_tau = 1.0 / static_cast<double>(args.temperature);
  if (args.score == RouterScore::Softmax)
    losses_forward<true>(stats, expert_fraction, logits, N, E, inv_tau);
  else
    losses_forward<false>(stats, expert_fraction, logits, N, E, inv_tau);
}

template <typename T>
void router_losses_backward(T* dlogits, const T* logits, const T* expert_fraction, int64_t N,
                            int64_t E, const RouterLossArgs& args, T aux_coef, T z_coef) {
  const T inv_tau = T(1) / static_cast<T>(args.temperature);
  if (args.score == RouterScore::Softmax)
    losses_backward<true>(dlogits, logits, expert_fraction, N, E, inv_tau, aux_coef, z_coef);
  else
    losses_backward<false>(dlogits, logits, expert_fraction, N, E, inv_tau, aux_coef, z_coef);
}

void router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& noise_logits,
                    const Tensor& noise_eps, const RouterArgs& args) {
  for_dtype(logits.dtype, [&]<typename T>(T) {
    router_forward(data<int32_t>(topk_idx), data<T>(gates), data<T>(logits),
                   data_or_null<T>(noise_logits), data_or_null<T>(noise_eps), logits.size(0),
                   logits.size(1), int64_t{args.top_k}, static_cast<T>(args.temperature));
  });
}

void router_backward(Tensor dlogits, Tensor dnoise_logits, const Tensor& dgates,
                     const Tensor& topk_idx, const Tensor& gates, const Tensor& noise_logits,
                     const Tensor& noise_eps, const RouterArgs& args) {
  for_dtype(dlogits.dtype, [&]<typename T>(T) {
    router_backward(data<T>(dlogits), data_or_null<T>(dnoise_logits), data<T>(dgates),
                    data<int32_t>(topk_idx), data<T>(gates), data_or_null<T>(noise_logits),
                    data_or_null<T>(noise_eps), dlogits.size(0), dlogits.size(1),
                    int64_t{args.top_k}, static_cast<T>(args.temperature));
  });
}

void router_losses_forward(Tensor stats, Tensor expert_fraction, const Tensor& logits,
                           const Tensor& topk_idx, const RouterLossArgs& args) {
  for_dtype(logits.dtype, [&]<typename T>(T) {
    router_losses_forward(data<double>(stats), data<T>(expert_fraction), data<T>(logits),
                          data<int32_t>(topk_idx), logits.size(0), logits.size(1), topk_idx.size(1),
                          args);
  });
}

void router_losses_backward(Tensor dlogits, const Tensor& logits, const Tensor& expert_fraction,
                            const RouterLossArgs& args, float aux_coef, float z_coef) {
  for_dtype(logits.dtype, [&]<typename T>(T) {
    router_losses_backward(data<T>(dlogits), data<T>(logits), data<T>(expert_fraction),
                           logits.size(0), logits.size(1), args, static_cast<T>(aux_coef),
                           static_cast<T>(z_coef));
  });
}

#define MOE_INSTANTIATE(T)                                                                         \
  template void router_forward<T>(int32_t*, T*, const T*, const T*, const T*, int64_t, int64_t,    \
                                  int64_t, T);                                                     \
  template void router_backward<T>(T*, T*, const T*, const int32_t*, const T*, const T*, const T*, \
                                   int64_t, int64_t, int64_t, T);                                  \
  template void router_losses_forward<T>(double*, T*, const T*, const int32_t*, int64_t, int64_t,  \
                                         int64_t, const RouterLossArgs&);                          \
  template void router_losses_backward<T>(T*, const T*, const T*, int64_t, int64_t,                \
                                          const RouterLossArgs&, T, T);
MOE_INSTANTIATE(float)
MOE_INSTANTIATE(double)
#undef MOE_INSTANTIATE

}  // namespace moe::cpu
