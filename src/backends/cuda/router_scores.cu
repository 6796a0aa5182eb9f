#include "backends/cuda/router_scores.h"

#include <cmath>

#include "backends/cuda/check.h"
#include "backends/cuda/sigmoid.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

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

// One thread per assignment; the counts are whole numbers in F64 (exact below 2^53), so their
// atomic sums do not depend on the order.
__global__ void router_load_accumulate_kernel(double* load, const int32_t* topk_idx,
                                              int64_t count) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) atomicAdd(&load[topk_idx[i]], 1.0);
}

// One block: the total load (thread 0, in expert order), then one thread per expert; the signs
// come from whole numbers, exact in F64, as on the CPU. bias (E), load (E) reset to 0.
__global__ void router_bias_update_kernel(float* bias, double* load, int64_t E, float gamma) {
  __shared__ double total;
  if (threadIdx.x == 0) {
    double t = 0.0;
    for (int64_t e = 0; e < E; ++e)
      t += load[e];
    total = t;
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    const double scaled = static_cast<double>(E) * load[e];
    if (scaled > total) bias[e] -= gamma;
    if (scaled < total) bias[e] += gamma;
    load[e] = 0.0;
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

void router_load_accumulate(Tensor load, const Tensor& topk_idx) {
  const int64_t count = topk_idx.numel();
  if (count == 0) return;
  router_load_accumulate_kernel<<<blocks_for(count), kThreadsPerBlock>>>(
      data<double>(load), data<int32_t>(topk_idx), count);
  MOE_CUDA_CHECK_LAUNCH();
}

void router_bias_update(Tensor bias, Tensor load, float gamma) {
  router_bias_update_kernel<<<1, kThreadsPerBlock>>>(data<float>(bias), data<double>(load),
                                                     bias.size(0), gamma);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
