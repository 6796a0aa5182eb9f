#include "backends/cuda/router_scores.h"

#include <cmath>

#include "backends/cuda/check.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// sigmoid(x), evaluated so that exp never overflows (as backends/cpu/router_scores.cpp).
template <typename T>
__device__ T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  const T e = exp(x);
  return e / (T(1) + e);
}

// One thread per token, the CPU's selection sort on s + bias (lowest index on ties), the kept
// keys parked in the gate row; then the gates from the unbiased scores.
// topk_idx (N, k), gates (N, k), logits (N, E), bias (E) or null.
__global__ void scored_router_forward_kernel(int32_t* topk_idx, float* gates, const float* logits,
                                             const float* bias, int64_t N, int64_t E, int64_t k,
                                             bool softmax, float inv_tau, float scaling) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (n >= N) return;
  const float* l = logits + n * E;
  int32_t* idx = topk_idx + n * k;
  float* g = gates + n * k;
  // softmax(l / tau)_e = exp(l_e / tau - m) / sum, in the CPU's order.
  float m = 0.0f, sum = 1.0f;
  if (softmax) {
    m = l[0] * inv_tau;
    for (int64_t e = 1; e < E; ++e)
      m = fmaxf(m, l[e] * inv_tau);
    sum = 0.0f;
    for (int64_t e = 0; e < E; ++e)
      sum += expf(l[e] * inv_tau - m);
  }
  for (int64_t j = 0; j < k; ++j) {
    int64_t best = -1;
    float best_v = 0.0f;
    for (int64_t e = 0; e < E; ++e) {
      const float s = softmax ? expf(l[e] * inv_tau - m) / sum : sigmoid(l[e]);
      const float v = bias ? s + bias[e] : s;
      if (j > 0 && !(v < g[j - 1] || (v == g[j - 1] && e > idx[j - 1]))) continue;
      if (best < 0 || v > best_v) {
        best = e;
        best_v = v;
      }
    }
    idx[j] = static_cast<int32_t>(best);
    g[j] = best_v;
  }
  float top = l[idx[0]] * inv_tau;
  for (int64_t j = 1; j < k; ++j)
    top = fmaxf(top, l[idx[j]] * inv_tau);
  float kept = 0.0f;
  for (int64_t j = 0; j < k; ++j) {
    g[j] = softmax ? expf(l[idx[j]] * inv_tau - top) : sigmoid(l[idx[j]]);
    kept += g[j];
  }
  const float scale = scaling / kept;
  for (int64_t j = 0; j < k; ++j)
    g[j] *= scale;
}

// One thread per token: dl_j = g_j (dg_j - sum_i g_i dg_i / c) times 1/tau (softmax) or
// 1 - s_j (sigmoid). dlogits (N, E) assigned, dgates, topk_idx, gates (N, k), logits (N, E).
__global__ void scored_router_backward_kernel(float* dlogits, const float* dgates,
                                              const int32_t* topk_idx, const float* gates,
                                              const float* logits, int64_t N, int64_t E, int64_t k,
                                              bool softmax, float inv_tau, float inv_c) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (n >= N) return;
  const float* g = gates + n * k;
  const float* dg = dgates + n * k;
  const int32_t* idx = topk_idx + n * k;
  float* dl = dlogits + n * E;
  for (int64_t e = 0; e < E; ++e)
    dl[e] = 0.0f;
  float dot = 0.0f;
  for (int64_t j = 0; j < k; ++j)
    dot += g[j] * dg[j];
  for (int64_t j = 0; j < k; ++j) {
    const int64_t e = idx[j];
    const float chain = softmax ? inv_tau : 1.0f - sigmoid(logits[n * E + e]);
    dl[e] = g[j] * (dg[j] - dot * inv_c) * chain;
  }
}

constexpr int kLossWarps = 32;

// One block, as router_losses_forward_kernel (backends/cuda/moe_router.cu): integer expert counts
// in shared memory, then one warp per token for the fp64 per-token terms, summed in token order
// per warp and in warp order across warps.
// stats (3) F64: aux, z, entropy of P = s / sum s; expert_fraction (E), logits (N, E),
// topk_idx (N, k).
__global__ void sigmoid_router_losses_forward_kernel(double* stats, float* expert_fraction,
                                                     const float* logits, const int32_t* topk_idx,
                                                     int64_t N, int64_t E, int64_t k) {
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
    const double m = warp_max(m_lane);
    double sum = 0.0, sum_s = 0.0;
    for (int64_t e = lane; e < E; e += kWarpSize) {
      sum += exp(static_cast<double>(l[e]) - m);
      sum_s += sigmoid(static_cast<double>(l[e]));
    }
    sum = warp_sum(sum);
    sum_s = warp_sum(sum_s);
    // With P_e = s_e / S: -sum P log P = log S - sum_e P_e log s_e.
    double plogs = 0.0, fp = 0.0;
    for (int64_t e = lane; e < E; e += kWarpSize) {
      const double s = sigmoid(static_cast<double>(l[e]));
      const double p = s / sum_s;
      plogs += p * log(s);
      fp += static_cast<double>(fraction[e]) * p;
    }
    plogs = warp_sum(plogs);
    fp = warp_sum(fp);
    const double lse = m + log(sum);
    z += lse * lse;
    entropy += log(sum_s) - plogs;
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

// One warp per token (lane l takes experts l, l + 32, ...), sums over experts in warp_sum's fixed
// tree: dl_i += aux_scale P_i (f_i - sum_e f_e P_e) (1 - s_i) + z_scale lse softmax(l)_i.
// dlogits (N, E) accumulated, logits (N, E), expert_fraction (E).
__global__ void sigmoid_router_losses_backward_kernel(float* dlogits, const float* logits,
                                                      const float* expert_fraction, int64_t N,
                                                      int64_t E, float aux_scale, float z_scale) {
  const int64_t n = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (n >= N) return;  // whole warps leave together
  const float* l = logits + n * E;
  float* dl = dlogits + n * E;
  float m = -INFINITY;
  for (int64_t e = lane; e < E; e += kWarpSize)
    m = fmaxf(m, l[e]);
  m = warp_max(m);
  float sum = 0.0f, sum_s = 0.0f, dot = 0.0f;
  for (int64_t e = lane; e < E; e += kWarpSize) {
    sum += expf(l[e] - m);
    const float s = sigmoid(l[e]);
    sum_s += s;
    dot += s * expert_fraction[e];
  }
  sum = warp_sum(sum);
  sum_s = warp_sum(sum_s);
  dot = warp_sum(dot) / sum_s;  // sum_e P_e f_e
  const float lse = m + logf(sum);
  for (int64_t e = lane; e < E; e += kWarpSize) {
    const float s = sigmoid(l[e]);
    const float q = expf(l[e] - m) / sum;
    dl[e] += aux_scale * (s / sum_s) * (expert_fraction[e] - dot) * (1.0f - s) + z_scale * lse * q;
  }
}

// One thread per assignment; integer atomics, so the counts do not depend on the order.
__global__ void router_load_accumulate_kernel(int32_t* load, const int32_t* topk_idx,
                                              int64_t count) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) atomicAdd(&load[topk_idx[i]], 1);
}

// One block: the total load (thread 0, in expert order), then one thread per expert; the signs
// come from integers, as on the CPU. bias (E), load (E) reset to 0.
__global__ void router_bias_update_kernel(float* bias, int32_t* load, int64_t E, float gamma) {
  __shared__ long long total;
  if (threadIdx.x == 0) {
    long long t = 0;
    for (int64_t e = 0; e < E; ++e)
      t += load[e];
    total = t;
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    const long long scaled = static_cast<long long>(E) * load[e];
    if (scaled > total) bias[e] -= gamma;
    if (scaled < total) bias[e] += gamma;
    load[e] = 0;
  }
}

}  // namespace

void scored_router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& bias,
                           const ScoredRouterArgs& args) {
  const int64_t N = logits.size(0), E = logits.size(1);
  scored_router_forward_kernel<<<blocks_for(N), kThreadsPerBlock>>>(
      data<int32_t>(topk_idx), data<float>(gates), data<float>(logits), data_or_null<float>(bias),
      N, E, args.top_k, args.score == RouterScore::Softmax, 1.0f / args.temperature, args.scaling);
  MOE_CUDA_CHECK_LAUNCH();
}

void scored_router_backward(Tensor dlogits, const Tensor& dgates, const Tensor& topk_idx,
                            const Tensor& gates, const Tensor& logits,
                            const ScoredRouterArgs& args) {
  const int64_t N = logits.size(0), E = logits.size(1);
  scored_router_backward_kernel<<<blocks_for(N), kThreadsPerBlock>>>(
      data<float>(dlogits), data<float>(dgates), data<int32_t>(topk_idx), data<float>(gates),
      data<float>(logits), N, E, args.top_k, args.score == RouterScore::Softmax,
      1.0f / args.temperature, 1.0f / args.scaling);
  MOE_CUDA_CHECK_LAUNCH();
}

void sigmoid_router_losses_forward(Tensor stats, Tensor expert_fraction, const Tensor& logits,
                                   const Tensor& topk_idx) {
  const int64_t N = logits.size(0), E = logits.size(1);
  sigmoid_router_losses_forward_kernel<<<1, kLossWarps * kWarpSize, E * sizeof(int32_t)>>>(
      data<double>(stats), data<float>(expert_fraction), data<float>(logits),
      data<int32_t>(topk_idx), N, E, topk_idx.size(1));
  MOE_CUDA_CHECK_LAUNCH();
}

void sigmoid_router_losses_backward(Tensor dlogits, const Tensor& logits,
                                    const Tensor& expert_fraction, float aux_coef, float z_coef) {
  const int64_t N = logits.size(0), E = logits.size(1);
  const float aux_scale = aux_coef * static_cast<float>(E) / static_cast<float>(N);
  const float z_scale = z_coef * 2.0f / static_cast<float>(N);
  sigmoid_router_losses_backward_kernel<<<blocks_for(N * kWarpSize), kThreadsPerBlock>>>(
      data<float>(dlogits), data<float>(logits), data<float>(expert_fraction), N, E, aux_scale,
      z_scale);
  MOE_CUDA_CHECK_LAUNCH();
}

void router_load_accumulate(Tensor load, const Tensor& topk_idx) {
  const int64_t count = topk_idx.numel();
  if (count == 0) return;
  router_load_accumulate_kernel<<<blocks_for(count), kThreadsPerBlock>>>(
      data<int32_t>(load), data<int32_t>(topk_idx), count);
  MOE_CUDA_CHECK_LAUNCH();
}

void router_bias_update(Tensor bias, Tensor load, float gamma) {
  router_bias_update_kernel<<<1, kThreadsPerBlock>>>(data<float>(bias), data<int32_t>(load),
                                                     bias.size(0), gamma);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
