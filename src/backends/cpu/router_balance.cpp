#include "backends/cpu/router_balance.h"

#include <algorithm>

#include "backends/cpu/parallel.h"
#include "backends/cpu/sigmoid.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {

template <typename T>
void segment_fractions(T* fraction, const int32_t* topk_idx, int64_t S, int64_t tokens, int64_t E,
                       int64_t k) {
  std::fill(fraction, fraction + S * E, T(0));
  const int64_t per_segment = tokens * k;
  // Counts are integers (exact in either precision) until the one division.
  for (int64_t s = 0; s < S; ++s) {
    T* f = fraction + s * E;
    for (int64_t i = s * per_segment; i < (s + 1) * per_segment; ++i)
      f[topk_idx[i]] += T(1);
    for (int64_t e = 0; e < E; ++e)
      f[e] /= static_cast<T>(per_segment);
  }
}

template <typename T>
void balance_loss_forward(double* loss, const T* scores, const T* fraction, int64_t S,
                          int64_t tokens, int64_t E) {
  // One sequential pass in (segment, expert, token) order, fp64: the order is fixed (independent
  // of the thread count) and the cost O(N*E) is far below the router GEMM's.
  double total = 0.0;
  for (int64_t s = 0; s < S; ++s) {
    for (int64_t e = 0; e < E; ++e) {
      double column = 0.0;
      for (int64_t t = 0; t < tokens; ++t)
        column += static_cast<double>(scores[(s * tokens + t) * E + e]);
      total += static_cast<double>(fraction[s * E + e]) * column / static_cast<double>(tokens);
    }
  }
  loss[0] = static_cast<double>(E) * total / static_cast<double>(S);
}

template <typename T>
void balance_loss_backward(T* dscores, const T* fraction, int64_t S, int64_t tokens, int64_t E,
                           T coef) {
  // d loss / d scores[n, e] = E/S * fraction[s(n), e] / T = E * fraction[s(n), e] / N.
  const T scale = coef * static_cast<T>(E) / static_cast<T>(S * tokens);
  const int64_t N = S * tokens;
#pragma omp parallel for schedule(static) if (N * E > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* f = fraction + (n / tokens) * E;
    for (int64_t e = 0; e < E; ++e)
      dscores[n * E + e] = scale * f[e];
  }
}

// The backward of a normalisation p = u / sum_e u_e of positive scores u(l), one row at a time:
// dl_e += p_e * (dp_e - sum_j p_j dp_j) * (d log u_e / d l_e), where slope(n, e) gives the last
// factor (d p_e / d u_j = (delta_ej - p_e) / sum_u, and d u_e / d l_e = u_e * d log u_e / d l_e).
template <typename T, typename Slope>
void normalized_backward(T* dlogits, const T* dprobs, const T* probs, int64_t N, int64_t E,
                         Slope slope) {
#pragma omp parallel for schedule(static) if (N * E > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* p = probs + n * E;
    const T* dp = dprobs + n * E;
    T dot = T(0);
    for (int64_t e = 0; e < E; ++e)
      dot += p[e] * dp[e];
    for (int64_t e = 0; e < E; ++e)
      dlogits[n * E + e] += p[e] * (dp[e] - dot) * slope(n, e);
  }
}

template <typename T>
void softmax_backward(T* dlogits, const T* dprobs, const T* probs, int64_t N, int64_t E,
                      T temperature) {
  // u = exp(l / tau): d log u / d l = 1 / tau.
  const T inv_tau = T(1) / temperature;
  normalized_backward(dlogits, dprobs, probs, N, E,
                      [inv_tau](int64_t, int64_t) { return inv_tau; });
}

template <typename T>
void normalized_sigmoid_forward(T* probs, const T* logits, int64_t N, int64_t E) {
#pragma omp parallel for schedule(static) if (N * E > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    T* p = probs + n * E;
    T sum = T(0);
    for (int64_t e = 0; e < E; ++e) {
      p[e] = sigmoid(logits[n * E + e]);
      sum += p[e];
    }
    for (int64_t e = 0; e < E; ++e)
      p[e] /= sum;
  }
}

template <typename T>
void normalized_sigmoid_backward(T* dlogits, const T* dprobs, const T* probs, const T* logits,
                                 int64_t N, int64_t E) {
  // u = sigmoid(l): d log u / d l = 1 - sigmoid(l).
  normalized_backward(dlogits, dprobs, probs, N, E, [logits, E](int64_t n, int64_t e) {
    return T(1) - sigmoid(logits[n * E + e]);
  });
}

void segment_fractions(Tensor fraction, const Tensor& topk_idx) {
  const int64_t S = fraction.size(0), E = fraction.size(1);
  for_dtype(fraction.dtype, [&]<typename T>(T) {
    segment_fractions(data<T>(fraction), data<int32_t>(topk_idx), S, topk_idx.size(0) / S, E,
                      topk_idx.size(1));
  });
}

void balance_loss_forward(Tensor loss, const Tensor& scores, const Tensor& fraction) {
  const int64_t S = fraction.size(0);
  for_dtype(scores.dtype, [&]<typename T>(T) {
    balance_loss_forward(data<double>(loss), data<T>(scores), data<T>(fraction), S,
                         scores.size(0) / S, scores.size(1));
  });
}

void balance_loss_backward(Tensor dscores, const Tensor& fraction, float coef) {
  const int64_t S = fraction.size(0);
  for_dtype(dscores.dtype, [&]<typename T>(T) {
    balance_loss_backward(data<T>(dscores), data<T>(fraction), S, dscores.size(0) / S,
                          dscores.size(1), static_cast<T>(coef));
  });
}

void softmax_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                      float temperature) {
  for_dtype(probs.dtype, [&]<typename T>(T) {
    softmax_backward(data<T>(dlogits), data<T>(dprobs), data<T>(probs), probs.size(0),
                     probs.size(1), static_cast<T>(temperature));
  });
}

void normalized_sigmoid_forward(Tensor probs, const Tensor& logits) {
  for_dtype(probs.dtype, [&]<typename T>(T) {
    normalized_sigmoid_forward(data<T>(probs), data<T>(logits), probs.size(0), probs.size(1));
  });
}

void normalized_sigmoid_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                                 const Tensor& logits) {
  for_dtype(probs.dtype, [&]<typename T>(T) {
    normalized_sigmoid_backward(data<T>(dlogits), data<T>(dprobs), data<T>(probs), data<T>(logits),
                                probs.size(0), probs.size(1));
  });
}

#define MOE_INSTANTIATE(T)                                                                       \
  template void segment_fractions<T>(T*, const int32_t*, int64_t, int64_t, int64_t, int64_t);    \
  template void balance_loss_forward<T>(double*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void balance_loss_backward<T>(T*, const T*, int64_t, int64_t, int64_t, T);            \
  template void softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t, T);                \
  template void normalized_sigmoid_forward<T>(T*, const T*, int64_t, int64_t);                   \
  template void normalized_sigmoid_backward<T>(T*, const T*, const T*, const T*, int64_t, int64_t);
MOE_INSTANTIATE(float)
MOE_INSTANTIATE(double)
#undef MOE_INSTANTIATE

}  // namespace moe::cpu
