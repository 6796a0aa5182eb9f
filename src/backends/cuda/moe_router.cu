#include "backends/cuda/moe_router.h"

#include <cmath>

#include "backends/cuda/check.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// softplus(x) = max(x, 0) + log1p(e^-|x|): neither overflows for large x nor loses the tail for
// very negative x (as backends/cpu/moe_router.cpp).
__device__ float softplus(float x) {
  return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

// d softplus / dx = sigmoid(x), evaluated so that exp never overflows.
__device__ float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
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

// One block: the expert counts (integer atomics into shared memory: order-independent), then one
// warp per token (tokens w, w + 32, ... for warp w; lane l takes experts l, l + 32, ...) for the
// fp64 per-token terms, each warp's sums in token order and the warps' sums in warp order.
// stats (3) F64: aux, z, entropy; expert_fraction (E), logits (N, E), topk_idx (N, k).
__global__ void router_losses_forward_kernel(double* stats, float* expert_fraction,
                                             const float* logits, const int32_t* topk_idx,
                                             int64_t N, int64_t E, int64_t k, double inv_tau) {
  extern __shared__ int32_t counts[];  // (E), then the fractions as float
  __shared__ double partial[kLossWarps][3];
  float* fraction = reinterpret_cast<float*>(counts);
  const int tid = threadIdx.x, lane = tid % kWarpSize, warp = tid / kWarpSize;
  for (int64_t e = tid; e < E; e += blockDim.x)
    counts[e] = 0;
  __syncthreads();
  for (int64_t i = tid; i < N * k; i += blockDim.x)
    atomicAdd(&counts[topk_idx[i]], 1);
  __syncthreads();
  for (int64_t e = tid; e < E; e += blockDim.x) {
    const float f = static_cast<float>(counts[e]) / static_cast<float>(N * k);
    fraction[e] = f;
    expert_fraction[e] = f;
  }
  __syncthreads();

  double aux = 0.0, z = 0.0, entropy = 0.0;
  for (int64_t n = warp; n < N; n += kLossWarps) {
    const float* l = logits + n * E;
    float m_lane = -INFINITY;
    for (int64_t e = lane; e < E; e += kWarpSize)
      m_lane = fmaxf(m_lane, l[e]);
    const double m = warp_max(m_lane);  // the largest logit, exact in either precision
    double sum = 0.0, sum_tau = 0.0;
    for (int64_t e = lane; e < E; e += kWarpSize) {
      sum += exp(static_cast<double>(l[e]) - m);
      sum_tau += exp((static_cast<double>(l[e]) - m) * inv_tau);
    }
    sum = warp_sum(sum);
    sum_tau = warp_sum(sum_tau);
    const double lse = m + log(sum), lse_tau = m * inv_tau + log(sum_tau);
    // With P_e = exp(x_e/tau - lse_tau): -sum P log P = lse_tau - sum_e P_e x_e / tau.
    double px = 0.0, fp = 0.0;
    for (int64_t e = lane; e < E; e += kWarpSize) {
      const double x = static_cast<double>(l[e]) * inv_tau;
      const double p = exp(x - lse_tau);
      px += p * x;
      fp += static_cast<double>(fraction[e]) * p;
    }
    px = warp_sum(px);
    fp = warp_sum(fp);
    z += lse * lse;
    entropy += lse_tau - px;
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
// fixed tree. aux = E/N sum_n sum_e f_e P[n,e] with f held constant, so dP[n,e] = aux_scale f_e;
// d z_n / d x_e = 2 lse_n softmax(x)_e.
// dlogits (N, E) accumulated, logits (N, E), expert_fraction (E).
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
  float sum = 0.0f, sum_tau = 0.0f, dot = 0.0f;
  for (int64_t e = lane; e < E; e += kWarpSize) {
    sum += expf(l[e] - m);
    const float p = expf((l[e] - m) * inv_tau);
    sum_tau += p;
    dot += p * expert_fraction[e];
  }
  sum = warp_sum(sum);
  sum_tau = warp_sum(sum_tau);
  dot = warp_sum(dot) / sum_tau;  // sum_e P_e f_e
  const float lse = m + logf(sum);
  for (int64_t e = lane; e < E; e += kWarpSize) {
    const float p_tau = expf((l[e] - m) * inv_tau) / sum_tau;
    const float q = expf(l[e] - m) / sum;
    dl[e] += aux_scale * p_tau * (expert_fraction[e] - dot) * inv_tau + z_scale * lse * q;
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
                           const Tensor& topk_idx, float temperature) {
  const int64_t N = logits.size(0), E = logits.size(1);
  router_losses_forward_kernel<<<1, kLossWarps * kWarpSize, E * sizeof(int32_t)>>>(
      data<double>(stats), data<float>(expert_fraction), data<float>(logits),
      data<int32_t>(topk_idx), N, E, topk_idx.size(1), 1.0 / static_cast<double>(temperature));
  MOE_CUDA_CHECK_LAUNCH();
}

void router_losses_backward(Tensor dlogits, const Tensor& logits, const Tensor& expert_fraction,
                            float temperature, float aux_coef, float z_coef) {
  const int64_t N = logits.size(0), E = logits.size(1);
  const float aux_scale = aux_coef * static_cast<float>(E) / static_cast<float>(N);
  const float z_scale = z_coef * 2.0f / static_cast<float>(N);
  router_losses_backward_kernel<<<blocks_for(N * kWarpSize), kThreadsPerBlock>>>(
      data<float>(dlogits), data<float>(logits), data<float>(expert_fraction), N, E,
      1.0f / temperature, aux_scale, z_scale);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
