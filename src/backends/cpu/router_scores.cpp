#include "backends/cpu/router_scores.h"

#include <algorithm>
#include <cmath>

#include "backends/cpu/parallel.h"
#include "backends/cpu/sigmoid.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {

namespace {

// One token's scores: sigmoid(l_e), or softmax(l / tau)_e = exp(l_e / tau - m) / sum.
template <typename T>
struct RowScores {
  const T* l;
  bool softmax;
  T inv_tau, m = T(0), sum = T(1);

  RowScores(const T* logits, int64_t E, const ScoredRouterArgs& args)
      : l(logits), softmax(args.score == RouterScore::Softmax), inv_tau(T(1) / args.temperature) {
    if (!softmax) return;
    m = l[0] * inv_tau;
    for (int64_t e = 1; e < E; ++e)
      m = std::max(m, l[e] * inv_tau);
    sum = T(0);
    for (int64_t e = 0; e < E; ++e)
      sum += std::exp(l[e] * inv_tau - m);
  }
  T operator()(int64_t e) const {
    return softmax ? std::exp(l[e] * inv_tau - m) / sum : sigmoid(l[e]);
  }
};

}  // namespace

template <typename T>
void scored_router_forward(int32_t* topk_idx, T* gates, const T* logits, const T* bias, int64_t N,
                           int64_t E, int64_t k, const ScoredRouterArgs& args) {
  const bool softmax = args.score == RouterScore::Softmax;
#pragma omp parallel for schedule(static) if (N * E * k > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* l = logits + n * E;
    const RowScores<T> score(l, E, args);
    int32_t* idx = topk_idx + n * k;
    T* g = gates + n * k;
    // Selection sort on s + bias without scratch memory, as backends/cpu/moe_router.cpp: pick j
    // is the largest key (lowest index on ties) after pick j-1 in that order; the kept keys are
    // parked in the gate row.
    for (int64_t j = 0; j < k; ++j) {
      int64_t best = -1;
      T best_v = T(0);
      for (int64_t e = 0; e < E; ++e) {
        const T v = bias ? score(e) + bias[e] : score(e);
        if (j > 0 && !(v < g[j - 1] || (v == g[j - 1] && e > idx[j - 1]))) continue;
        if (best < 0 || v > best_v) {
          best = e;
          best_v = v;
        }
      }
      idx[j] = static_cast<int32_t>(best);
      g[j] = best_v;
    }
    // Gates from the unbiased scores. Softmax: the softmax over the kept logits / tau, shifted
    // by their own maximum, so a bias that keeps only low-probability experts cannot underflow.
    T top = l[idx[0]] * score.inv_tau;
    for (int64_t j = 1; j < k; ++j)
      top = std::max(top, l[idx[j]] * score.inv_tau);
    T sum = T(0);
    for (int64_t j = 0; j < k; ++j) {
      g[j] = softmax ? std::exp(l[idx[j]] * score.inv_tau - top) : score(idx[j]);
      sum += g[j];
    }
    const T scale = static_cast<T>(args.scaling) / sum;
    for (int64_t j = 0; j < k; ++j)
      g[j] *= scale;
  }
}

template <typename T>
void scored_router_backward(T* dlogits, const T* dgates, const int32_t* topk_idx, const T* gates,
                            const T* logits, int64_t N, int64_t E, int64_t k,
                            const ScoredRouterArgs& args) {
  const bool softmax = args.score == RouterScore::Softmax;
  const T inv_tau = T(1) / static_cast<T>(args.temperature);
  const T inv_c = T(1) / static_cast<T>(args.scaling);
#pragma omp parallel for schedule(static) if (N * E > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* g = gates + n * k;
    const T* dg = dgates + n * k;
    const int32_t* idx = topk_idx + n * k;
    T* dl = dlogits + n * E;
    std::fill(dl, dl + E, T(0));
    // g_j = c s_j / S over the kept s, so ds_j = (c / S)(dg_j - sum_i g_i dg_i / c); with
    // c s_j / S = g_j the chain rule through the score function gives
    //   softmax: dl_j = g_j (dg_j - dot / c) / tau     (the softmax Jacobian of the kept logits)
    //   sigmoid: dl_j = g_j (dg_j - dot / c) (1 - s_j)  (sigmoid' = s (1 - s))
    T dot = T(0);
    for (int64_t j = 0; j < k; ++j)
      dot += g[j] * dg[j];
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = idx[j];
      const T chain = softmax ? inv_tau : T(1) - sigmoid(logits[n * E + e]);
      dl[e] = g[j] * (dg[j] - dot * inv_c) * chain;
    }
  }
}

template <typename T>
void router_bias_update(T* bias, double* load, int64_t E, T gamma) {
  // load_e > mean  <=>  E load_e > total: whole numbers below 2^53, exact in F64, so every backend
  // takes the same signs (an expert exactly at the mean keeps its bias, sign(0) = 0).
  double total = 0.0;
  for (int64_t e = 0; e < E; ++e)
    total += load[e];
  for (int64_t e = 0; e < E; ++e) {
    const double scaled = static_cast<double>(E) * load[e];
    if (scaled > total) bias[e] -= gamma;
    if (scaled < total) bias[e] += gamma;
    load[e] = 0.0;
  }
}

void scored_router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& bias,
                           const ScoredRouterArgs& args) {
  for_dtype(logits.dtype, [&]<typename T>(T) {
    scored_router_forward(data<int32_t>(topk_idx), data<T>(gates), data<T>(logits),
                          data_or_null<T>(bias), logits.size(0), logits.size(1),
                          int64_t{args.top_k}, args);
  });
}

void scored_router_backward(Tensor dlogits, const Tensor& dgates, const Tensor& topk_idx,
                            const Tensor& gates, const Tensor& logits,
                            const ScoredRouterArgs& args) {
  for_dtype(logits.dtype, [&]<typename T>(T) {
    scored_router_backward(data<T>(dlogits), data<T>(dgates), data<int32_t>(topk_idx),
                           data<T>(gates), data<T>(logits), logits.size(0), logits.size(1),
                           int64_t{args.top_k}, args);
  });
}

void router_load_accumulate(Tensor load, const Tensor& topk_idx) {
  double* l = data<double>(load);
  const int32_t* idx = data<int32_t>(topk_idx);
  for (int64_t i = 0; i < topk_idx.numel(); ++i)
    l[idx[i]] += 1.0;
}

void router_bias_update(Tensor bias, Tensor load, float gamma) {
  for_dtype(bias.dtype, [&]<typename T>(T) {
    router_bias_update(data<T>(bias), data<double>(load), bias.size(0), static_cast<T>(gamma));
  });
}

#define MOE_INSTANTIATE(T)                                                                     \
  template void scored_router_forward<T>(int32_t*, T*, const T*, const T*, int64_t, int64_t,   \
                                         int64_t, const ScoredRouterArgs&);                    \
  template void scored_router_backward<T>(T*, const T*, const int32_t*, const T*, const T*,    \
                                          int64_t, int64_t, int64_t, const ScoredRouterArgs&); \
  template void router_bias_update<T>(T*, double*, int64_t, T);
MOE_INSTANTIATE(float)
MOE_INSTANTIATE(double)
#undef MOE_INSTANTIATE

}  // namespace moe::cpu
