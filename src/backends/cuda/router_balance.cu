#include "backends/cuda/router_balance.h"

#include "backends/cuda/check.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/sigmoid.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// One block per segment: the expert counts by integer atomics in shared memory (exact, so the
// order does not matter), then one division each.
// fraction (S, E) assigned; topk_idx (N, k), N = S * tokens.
__global__ void segment_fractions_kernel(float* fraction, const int32_t* topk_idx, int64_t tokens,
                                         int64_t E, int64_t k) {
  extern __shared__ int32_t counts[];  // (E)
  const int64_t s = blockIdx.x, per_segment = tokens * k;
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x)
    counts[e] = 0;
  __syncthreads();
  const int32_t* idx = topk_idx + s * per_segment;
  for (int64_t i = threadIdx.x; i < per_segment; i += blockDim.x)
    atomicAdd(&counts[idx[i]], 1);
  __syncthreads();
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x)
    fraction[s * E + e] = static_cast<float>(counts[e]) / static_cast<float>(per_segment);
}

// One block: thread i takes the (segment, expert) pairs i, i + blockDim.x, ..., each column's
// sum over its tokens in token order in fp64; block_sum adds the threads' sums in a fixed order.
// loss (1) F64; scores (N, E); fraction (S, E).
__global__ void balance_loss_forward_kernel(double* loss, const float* scores,
                                            const float* fraction, int64_t S, int64_t tokens,
                                            int64_t E) {
  __shared__ double partial[kWarpSize];
  double sum = 0.0;
  for (int64_t p = threadIdx.x; p < S * E; p += blockDim.x) {
    const int64_t s = p / E, e = p % E;
    double column = 0.0;
    for (int64_t t = 0; t < tokens; ++t)
      column += static_cast<double>(scores[(s * tokens + t) * E + e]);
    sum += static_cast<double>(fraction[p]) * column / static_cast<double>(tokens);
  }
  const double total = block_sum(sum, partial);
  if (threadIdx.x == 0) loss[0] = static_cast<double>(E) * total / static_cast<double>(S);
}

// One thread per element: dscores[n, e] = scale * fraction[s(n), e].
__global__ void balance_loss_backward_kernel(float* dscores, const float* fraction, int64_t N,
                                             int64_t tokens, int64_t E, float scale) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= N * E) return;
  const int64_t n = i / E, e = i % E;
  dscores[i] = scale * fraction[(n / tokens) * E + e];
}

// One warp per row (lane l takes experts l, l + 32, ...), the dot product in warp_sum's fixed
// tree: dlogits[n, e] += p_e * (dp_e - sum_j p_j dp_j) * slope_e, the backward of the
// normalisation p = u / sum(u) (backends/cpu/router_balance.cpp), with slope = d log u / d l:
// 1 / tau for softmax scores (logits == nullptr), 1 - sigmoid(l) for sigmoid scores.
// dlogits (N, E) accumulated; dprobs, probs, logits (N, E).
__global__ void normalized_backward_kernel(float* dlogits, const float* dprobs, const float* probs,
                                           const float* logits, int64_t N, int64_t E,
                                           float inv_tau) {
  const int64_t n = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (n >= N) return;  // whole warps leave together
  const float* p = probs + n * E;
  const float* dp = dprobs + n * E;
  float dot = 0.0f;
  for (int64_t e = lane; e < E; e += kWarpSize)
    dot += p[e] * dp[e];
  dot = warp_sum(dot);
  for (int64_t e = lane; e < E; e += kWarpSize) {
    const float slope = logits ? 1.0f - sigmoid(logits[n * E + e]) : inv_tau;
    dlogits[n * E + e] += p[e] * (dp[e] - dot) * slope;
  }
}

// One warp per row: probs[n, e] = sigmoid(l_e) / sum_j sigmoid(l_j), the sum in warp_sum's tree.
// probs, logits (N, E).
__global__ void normalized_sigmoid_forward_kernel(float* probs, const float* logits, int64_t N,
                                                  int64_t E) {
  const int64_t n = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (n >= N) return;  // whole warps leave together
  const float* l = logits + n * E;
  float sum = 0.0f;
  for (int64_t e = lane; e < E; e += kWarpSize)
    sum += sigmoid(l[e]);
  sum = warp_sum(sum);
  for (int64_t e = lane; e < E; e += kWarpSize)
    probs[n * E + e] = sigmoid(l[e]) / sum;
}

}  // namespace

void segment_fractions(float* fraction, const int32_t* topk_idx, int64_t S, int64_t tokens,
                       int64_t E, int64_t k) {
  segment_fractions_kernel<<<static_cast<unsigned int>(S), kThreadsPerBlock, E * sizeof(int32_t)>>>(
      fraction, topk_idx, tokens, E, k);
  MOE_CUDA_CHECK_LAUNCH();
}

void segment_fractions(Tensor fraction, const Tensor& topk_idx) {
  const int64_t S = fraction.size(0);
  segment_fractions(data<float>(fraction), data<int32_t>(topk_idx), S, topk_idx.size(0) / S,
                    fraction.size(1), topk_idx.size(1));
}

void balance_loss_forward(Tensor loss, const Tensor& scores, const Tensor& fraction) {
  const int64_t S = fraction.size(0);
  balance_loss_forward_kernel<<<1, kThreadsPerBlock>>>(data<double>(loss), data<float>(scores),
                                                       data<float>(fraction), S, scores.size(0) / S,
                                                       scores.size(1));
  MOE_CUDA_CHECK_LAUNCH();
}

void balance_loss_backward(Tensor dscores, const Tensor& fraction, float coef) {
  const int64_t N = dscores.size(0), E = dscores.size(1), S = fraction.size(0);
  const float scale = coef * static_cast<float>(E) / static_cast<float>(N);
  balance_loss_backward_kernel<<<blocks_for(N * E), kThreadsPerBlock>>>(
      data<float>(dscores), data<float>(fraction), N, N / S, E, scale);
  MOE_CUDA_CHECK_LAUNCH();
}

void softmax_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                      float temperature) {
  const int64_t N = probs.size(0), E = probs.size(1);
  normalized_backward_kernel<<<blocks_for(N * kWarpSize), kThreadsPerBlock>>>(
      data<float>(dlogits), data<float>(dprobs), data<float>(probs), nullptr, N, E,
      1.0f / temperature);
  MOE_CUDA_CHECK_LAUNCH();
}

void normalized_sigmoid_forward(Tensor probs, const Tensor& logits) {
  const int64_t N = probs.size(0), E = probs.size(1);
  normalized_sigmoid_forward_kernel<<<blocks_for(N * kWarpSize), kThreadsPerBlock>>>(
      data<float>(probs), data<float>(logits), N, E);
  MOE_CUDA_CHECK_LAUNCH();
}

void normalized_sigmoid_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                                 const Tensor& logits) {
  const int64_t N = probs.size(0), E = probs.size(1);
  normalized_backward_kernel<<<blocks_for(N * kWarpSize), kThreadsPerBlock>>>(
      data<float>(dlogits), data<float>(dprobs), data<float>(probs), data<float>(logits), N, E,
      1.0f);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
