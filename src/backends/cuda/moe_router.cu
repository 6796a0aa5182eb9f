#include "backends/cuda/moe_router.h"

#include <cmath>

#include "backends/cuda/check.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/router_balance.h"
#include "backends/cuda/sigmoid.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// softplus(x) = max(x, 0) + log1p(e^-|x|): neither overflows for large x nor loses the tail for
// very negative x (as backends/cpu/moe_router.cpp).
__device__ float softplus(float x) {
  return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

// One thread per token, the CPU's selection sort: pick j is the largest s (lowest index on ties)
// among the experts that come after pick j-1 in that order; the kept s are parked in the gate
// row, so the comparisons and the softmax see the very same values.
// topk_idx (N, k), gates (N, k), logits (N, E), noise_logits and noise_eps (N, E) or null.
__global__ void router_forward_kernel(int32_t* topk_idx, float* gates, const float* logits,
                                      const float* noise_logits, const float* noise_eps, int64_t N,
                                      int64_t E, int64_t k, float inv_tau) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (n >= N) return;
  const float* l = logits + n * E;
  const float* nl = noise_logits ? noise_logits + n * E : nullptr;
  const float* eps = noise_eps ? noise_eps + n * E : nullptr;
  int32_t* idx = topk_idx + n * k;
  float* g = gates + n * k;
  for (int64_t j = 0; j < k; ++j) {
    int64_t best = -1;
    float best_s = 0.0f;
    for (int64_t e = 0; e < E; ++e) {
      const float s = (nl ? l[e] + eps[e] * softplus(nl[e]) : l[e]) * inv_tau;
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
  const float top = g[0];
  float sum = 0.0f;
  for (int64_t j = 0; j < k; ++j) {
    g[j] = expf(g[j] - top);
    sum += g[j];
  }
  for (int64_t j = 0; j < k; ++j)
    g[j] /= sum;
}

// One thread per token. The softmax Jacobian over the kept scores: ds_j = g_j (dg_j - sum_i g_i
// dg_i); sel = logits + eps * softplus(noise_logits) gives dnoise = dsel * eps * sigmoid.
// dlogits (N, E), dnoise_logits (N, E) or null, dgates (N, k), topk_idx (N, k), gates (N, k),
// noise_logits and noise_eps (N, E) or null.
__global__ void router_backward_kernel(float* dlogits, float* dnoise_logits, const float* dgates,
                                       const int32_t* topk_idx, const float* gates,
                                       const float* noise_logits, const float* noise_eps, int64_t N,
                                       int64_t E, int64_t k, float inv_tau) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (n >= N) return;
  const float* g = gates + n * k;
  const float* dg = dgates + n * k;
  const int32_t* idx = topk_idx + n * k;
  float* dl = dlogits + n * E;
  float* dnl = dnoise_logits ? dnoise_logits + n * E : nullptr;
  for (int64_t e = 0; e < E; ++e) {
    dl[e] = 0.0f;
    if (dnl) dnl[e] = 0.0f;
  }
  float dot = 0.0f;
  for (int64_t j = 0; j < k; ++j)
    dot += g[j] * dg[j];
  for (int64_t j = 0; j < k; ++j) {
    const int64_t e = idx[j];
    const float dsel = g[j] * (dg[j] - dot) * inv_tau;
    dl[e] = dsel;
    if (dnl) dnl[e] = dsel * noise_eps[n * E + e] * sigmoid(noise_logits[n * E + e]);
  }
}

constexpr int kLossWarps = 32;

// One block after segment_fractions: one warp per token (tokens w, w + 32, ... for warp w; lane l
// takes experts l, l + 32, ...) for the fp64 per-token terms, each warp's sums in token order and
// the warps' sums in warp order. P_e = u_e / sum_u with u_e = exp((l_e - m) / tau) (softmax) or
// sigmoid(l_e), as backends/cpu/moe_router.cpp; the score function is a compile-time choice, so
// that each keeps the arithmetic of a kernel written for it alone.
// stats (3) F64: aux, z, entropy; expert_fraction (E), logits (N, E).
template <bool kSoftmax>
__global__ void router_losses_forward_kernel(double* stats, const float* expert_fraction,
                                             const float* logits, int64_t N, int64_t E,
                                             double inv_tau) {
  __shared__ double partial[kLossWarps][3];
  const int tid = threadIdx.x, lane = tid % kWarpSize, warp = tid / kWarpSize;
  double aux = 0.0, z = 0.0, entropy = 0.0;
  for (int64_t n = warp; n < N; n += kLossWarps) {
    const float* l = logits + n * E;
    float m_lane = -INFINITY;
    for (int64_t e = lane; e < E; e += kWarpSize)
      m_lane = fmaxf(m_lane, l[e]);
    const double m = warp_max(m_lane);  // the largest logit, exact in either precision
    double sum = 0.0, sum_u = 0.0;
    for (int64_t e = lane; e < E; e += kWarpSize) {
      const double x = static_cast<double>(l[e]);
      sum += exp(x - m);
      if constexpr (kSoftmax)
        sum_u += exp((x - m) * inv_tau);
      else
        sum_u += sigmoid(x);
    }
    sum = warp_sum(sum);
    sum_u = warp_sum(sum_u);
    const double lse = m + log(sum);
    // -sum P log P = log_norm - sum_e P_e log_score_e, where P_e = exp(log_score_e - log_norm):
    // softmax: log_score = l / tau, log_norm = logsumexp(l / tau); sigmoid: log_score = log s,
    // log_norm = log sum_e s_e.
    double log_norm;
    if constexpr (kSoftmax)
      log_norm = m * inv_tau + log(sum_u);
    else
      log_norm = log(sum_u);
    double plog = 0.0, fp = 0.0;
    for (int64_t e = lane; e < E; e += kWarpSize) {
      const double x = static_cast<double>(l[e]);
      double p, log_score;
      if constexpr (kSoftmax) {
        log_score = x * inv_tau;
        p = exp(log_score - log_norm);
      } else {
        const double s = sigmoid(x);
        log_score = log(s);
        p = s / sum_u;
      }
      plog += p * log_score;
      fp += static_cast<double>(expert_fraction[e]) * p;
    }
    plog = warp_sum(plog);
    fp = warp_sum(fp);
    z += lse * lse;
    entropy += log_norm - plog;
    aux += fp;
  }
  if (lane == 0) {
    partial[warp][0] = aux;
    partial[warp][1] = z;
    partial[warp][2] = entropy;
  }
  __syncthreads();
  if (tid == 0) {
    double total[3] = {0.0, 0.0, 0.0};
    for (int w = 0; w < kLossWarps; ++w)
      for (int s = 0; s < 3; ++s)
        total[s] += partial[w][s];
    stats[0] = static_cast<double>(E) * total[0] / static_cast<double>(N);
    stats[1] = total[1] / static_cast<double>(N);
    stats[2] = total[2] / static_cast<double>(N);
  }
}

// One warp per token (lane l takes experts l, l + 32, ...), sums over experts in warp_sum's
// fixed tree. aux = E/N sum_n sum_e f_e P[n,e] with f held constant and P = u / sum_u, so
// dl_i = aux_scale P_i (f_i - sum_e f_e P_e) d(log u_i)/d(l_i), that last factor 1/tau (softmax)
// or 1 - s_i (sigmoid); d z_n / d l_e = 2 lse_n softmax(l)_e.
// dlogits (N, E) accumulated, logits (N, E), expert_fraction (E).
template <bool kSoftmax>
__global__ void router_losses_backward_kernel(float* dlogits, const float* logits,
                                              const float* expert_fraction, int64_t N, int64_t E,
                                              float inv_tau, float aux_scale, float z_scale) {
  const int64_t n = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (n >= N) return;  // whole warps leave together
  const float* l = logits + n * E;
  float* dl = dlogits + n * E;
  float m = -INFINITY;
  for (int64_t e = lane; e < E; e += kWarpSize)
    m = fmaxf(m, l[e]);
  m = warp_max(m);
  auto score = [inv_tau](float x, float max) {
    if constexpr (kSoftmax)
      return expf((x - max) * inv_tau);
    else
      return sigmoid(x);
  };
  float sum = 0.0f, sum_u = 0.0f, dot = 0.0f;
  for (int64_t e = lane; e < E; e += kWarpSize) {
    sum += expf(l[e] - m);
    const float u = score(l[e], m);
    sum_u += u;
    dot += u * expert_fraction[e];
  }
  sum = warp_sum(sum);
  sum_u = warp_sum(sum_u);
  dot = warp_sum(dot) / sum_u;  // sum_e P_e f_e
  const float lse = m + logf(sum);
  for (int64_t e = lane; e < E; e += kWarpSize) {
    const float u = score(l[e], m);
    const float chain = kSoftmax ? inv_tau : 1.0f - u;
    const float q = expf(l[e] - m) / sum;
    dl[e] += aux_scale * (u / sum_u) * (expert_fraction[e] - dot) * chain + z_scale * lse * q;
  }
}

}  // namespace

void router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& noise_logits,
                    const Tensor& noise_eps, const RouterArgs& args) {
  const int64_t N = logits.size(0), E = logits.size(1);
  router_forward_kernel<<<blocks_for(N), kThreadsPerBlock>>>(
      data<int32_t>(topk_idx), data<float>(gates), data<float>(logits),
      data_or_null<float>(noise_logits), data_or_null<float>(noise_eps), N, E, args.top_k,
      1.0f / args.temperature);
  MOE_CUDA_CHECK_LAUNCH();
}

void router_backward(Tensor dlogits, Tensor dnoise_logits, const Tensor& dgates,
                     const Tensor& topk_idx, const Tensor& gates, const Tensor& noise_logits,
                     const Tensor& noise_eps, const RouterArgs& args) {
  const int64_t N = dlogits.size(0), E = dlogits.size(1);
  router_backward_kernel<<<blocks_for(N), kThreadsPerBlock>>>(
      data<float>(dlogits), data_or_null<float>(dnoise_logits), data<float>(dgates),
      data<int32_t>(topk_idx), data<float>(gates), data_or_null<float>(noise_logits),
      data_or_null<float>(noise_eps), N, E, args.top_k, 1.0f / args.temperature);
  MOE_CUDA_CHECK_LAUNCH();
}

void router_losses_forward(Tensor stats, Tensor expert_fraction, const Tensor& logits,
                           const Tensor& topk_idx, const RouterLossArgs& args) {
  const int64_t N = logits.size(0), E = logits.size(1);
  segment_fractions(data<float>(expert_fraction), data<int32_t>(topk_idx), 1, N, E,
                    topk_idx.size(1));
  const double inv_tau = 1.0 / static_cast<double>(args.temperature);
  auto kernel = args.score == RouterScore::Softmax ? router_losses_forward_kernel<true>
                                                   : router_losses_forward_kernel<false>;
  kernel<<<1, kLossWarps * kWarpSize>>>(data<double>(stats), data<float>(expert_fraction),
                                        data<float>(logits), N, E, inv_tau);
  MOE_CUDA_CHECK_LAUNCH();
}

void router_losses_backward(Tensor dlogits, const Tensor& logits, const Tensor& expert_fraction,
                            const RouterLossArgs& args, float aux_coef, float z_coef) {
  const int64_t N = logits.size(0), E = logits.size(1);
  const float aux_scale = aux_coef * static_cast<float>(E) / static_cast<float>(N);
  const float z_scale = z_coef * 2.0f / static_cast<float>(N);
  auto kernel = args.score == RouterScore::Softmax ? router_losses_backward_kernel<true>
                                                   : router_losses_backward_kernel<false>;
  kernel<<<blocks_for(N * kWarpSize), kThreadsPerBlock>>>(
      data<float>(dlogits), data<float>(logits), data<float>(expert_fraction), N, E,
      1.0f / args.temperature, aux_scale, z_scale);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
