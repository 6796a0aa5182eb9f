#include "backends/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/rng.h"

namespace moe::cpu {
namespace {

// The reduction is split across SIMD lanes (a fixed order for a given build, so results stay
// reproducible): with head_dim 16 a sequential sum would be bound by the FMA latency chain.
template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T s = T(0);
#pragma omp simd reduction(+ : s)
  for (int64_t d = 0; d < n; ++d)
    s += a[d] * b[d];
  return s;
}

// y += a x
template <typename T>
void axpy(T* y, T a, const T* x, int64_t n) {
  for (int64_t d = 0; d < n; ++d)
    y[d] += a * x[d];
}

// The factor dropout applies to the weight at `index`: 0 when dropped, 1 / (1 - p) when kept.
// Same rule as ops::dropout_keep (core/rng.h KeepMask), so masks agree with the dropout op.
template <typename T>
T dropout_factor(KeepMask& mask, int64_t index, float p) {
  if (p <= 0.0f) return T(1);
  return mask.keep(static_cast<uint64_t>(index)) ? T(1) / (T(1) - T(p)) : T(0);
}

}  // namespace

template <typename T>
void attention_forward(T* out, T* probs, const T* q, const T* k, const T* v, int64_t B, int64_t Tq,
                       int64_t Tk, int64_t H, int64_t Hkv, int64_t D, float scale, float dropout,
                       uint64_t key) {
  const int64_t group = H / Hkv;
  const int64_t offset = Tk - Tq;
#pragma omp parallel for
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H, g = h / group;
    for (int64_t i = 0; i < Tq; ++i) {
      const T* qi = q + ((b * Tq + i) * H + h) * D;
      const int64_t prow = (bh * Tq + i) * Tk;
      T* p = probs + prow;
      const int64_t visible = i + offset + 1;
      // Softmax of the scaled scores over the visible keys, max-subtracted.
      T max = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < visible; ++j) {
        p[j] = T(scale) * dot(qi, k + ((b * Tk + j) * Hkv + g) * D, D);
        max = std::max(max, p[j]);
      }
      T sum = T(0);
      for (int64_t j = 0; j < visible; ++j) {
        p[j] = std::exp(p[j] - max);
        sum += p[j];
      }
      const T inv_sum = T(1) / sum;
      for (int64_t j = 0; j < visible; ++j)
        p[j] *= inv_sum;
      std::fill(p + visible, p + Tk, T(0));

      T* o = out + ((b * Tq + i) * H + h) * D;
      std::fill(o, o + D, T(0));
      KeepMask mask(key, dropout);
      for (int64_t j = 0; j < visible; ++j) {
        const T w = p[j] * dropout_factor<T>(mask, prow + j, dropout);
        if (w != T(0)) axpy(o, w, v + ((b * Tk + j) * Hkv + g) * D, D);
      }
    }
  }
}

// With m the dropout factor and w = p m the applied weights, out_i = sum_j w_ij v_j gives
//   dv_j += w_ij dout_i,   dp_ij = m_ij (dout_i . v_j),
//   ds_ij = p_ij (dp_ij - sum_j' p_ij' dp_ij')            (softmax Jacobian),
//   dq_i += scale sum_j ds_ij k_j,   dk_j += scale sum_i ds_ij q_i.
// Threads own one (b, kv head) each, so the dk/dv sums over the heads of a group and over
// queries run in a fixed order on one thread.
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, T* dprobs, const T* dout, const T* q, const T* k,
                        const T* v, const T* probs, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                        int64_t Hkv, int64_t D, float scale, float dropout, uint64_t key) {
  const int64_t group = H / Hkv;
  const int64_t offset = Tk - Tq;
  const T s = T(scale);
#pragma omp parallel for
  for (int64_t bg = 0; bg < B * Hkv; ++bg) {
    const int64_t b = bg / Hkv, g = bg % Hkv;
    for (int64_t j = 0; j < Tk; ++j) {
      const int64_t kv = ((b * Tk + j) * Hkv + g) * D;
      std::fill(dk + kv, dk + kv + D, T(0));
      std::fill(dv + kv, dv + kv + D, T(0));
    }
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t qrow = ((b * Tq + i) * H + h) * D;
        const int64_t prow = ((b * H + h) * Tq + i) * Tk;
        const T* p = probs + prow;
        T* dp = dprobs + prow;
        const T* doi = dout + qrow;
        const int64_t visible = i + offset + 1;
        T pdp = T(0);
        KeepMask mask(key, dropout);
        for (int64_t j = 0; j < visible; ++j) {
          const int64_t kv = ((b * Tk + j) * Hkv + g) * D;
          const T m = dropout_factor<T>(mask, prow + j, dropout);
          if (m == T(0)) {
            dp[j] = T(0);
            continue;
          }
          axpy(dv + kv, p[j] * m, doi, D);
          dp[j] = m * dot(doi, v + kv, D);
          pdp += p[j] * dp[j];
        }
        T* dqi = dq + qrow;
        std::fill(dqi, dqi + D, T(0));
        for (int64_t j = 0; j < visible; ++j) {
          const int64_t kv = ((b * Tk + j) * Hkv + g) * D;
          dp[j] = p[j] * (dp[j] - pdp);
          axpy(dqi, s * dp[j], k + kv, D);
          axpy(dk + kv, s * dp[j], q + qrow, D);
        }
        std::fill(dp + visible, dp + Tk, T(0));
      }
    }
  }
}

template void attention_forward<float>(float*, float*, const float*, const float*, const float*,
                                       int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float,
                                       float, uint64_t);
template void attention_forward<double>(double*, double*, const double*, const double*,
                                        const double*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                        int64_t, float, float, uint64_t);
template void attention_backward<float>(float*, float*, float*, float*, const float*, const float*,
                                        const float*, const float*, const float*, int64_t, int64_t,
                                        int64_t, int64_t, int64_t, int64_t, float, float, uint64_t);
template void attention_backward<double>(double*, double*, double*, double*, const double*,
                                         const double*, const double*, const double*, const double*,
                                         int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                         float, float, uint64_t);

}  // namespace moe::cpu
