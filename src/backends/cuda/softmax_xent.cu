#include "backends/cuda/softmax_xent.h"

#include "backends/cuda/check.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// One block per row.
constexpr int kRowThreads = 256;

struct RowStats {
  float max;
  float sum;
};

// Row statistics of row (V) / temperature over the block: max m and sum_j exp(x_j * inv_t - m).
// Subtracting the max keeps every exponent <= 0, so nothing overflows (the logsumexp trick).
__device__ RowStats row_stats(const float* row, int64_t V, float inv_temperature, float* shared) {
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x)
    m = fmaxf(m, row[j] * inv_temperature);
  m = block_max(m, shared);
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x)
    s += expf(row[j] * inv_temperature - m);
  return {m, block_sum(s, shared)};
}

// losses (N) = log(sum) - (x_t - max): no cancellation between two large numbers when the
// logits are large.
__global__ void xent_forward_kernel(float* losses, const float* logits, const int32_t* targets,
                                    int64_t V) {
  __shared__ float shared[kWarpSize];
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * V;
  const RowStats st = row_stats(row, V, 1.0f, shared);
  if (threadIdx.x == 0) losses[blockIdx.x] = logf(st.sum) - (row[targets[blockIdx.x]] - st.max);
}

// mean (1) = the mean of losses (N), summed in fp64 in row order by one thread, as the CPU sums
// them: the same losses give the same bits.
__global__ void mean_in_row_order_kernel(double* mean, const float* losses, int64_t N) {
  double total = 0.0;
  for (int64_t i = 0; i < N; ++i)
    total += losses[i];
  *mean = N > 0 ? total / static_cast<double>(N) : 0.0;
}

// dlogits (N, V) = (softmax(logits) - onehot(targets)) * dloss. Every thread reads an element
// before it writes the same element, and the target's correction comes after the block's writes,
// so dlogits may alias logits.
__global__ void xent_backward_kernel(float* dlogits, const float* logits, const int32_t* targets,
                                     float dloss, int64_t V) {
  __shared__ float shared[kWarpSize];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * V;
  const float* row = logits + offset;
  float* drow = dlogits + offset;
  const RowStats st = row_stats(row, V, 1.0f, shared);
  const float inv_sum = 1.0f / st.sum;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x)
    drow[j] = expf(row[j] - st.max) * inv_sum * dloss;
  __syncthreads();
  if (threadIdx.x == 0) drow[targets[blockIdx.x]] -= dloss;
}

// probs (N, V) = softmax(logits / temperature); probs may alias logits.
__global__ void softmax_kernel(float* probs, const float* logits, float inv_temperature,
                               int64_t V) {
  __shared__ float shared[kWarpSize];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * V;
  const float* row = logits + offset;
  float* prow = probs + offset;
  const RowStats st = row_stats(row, V, inv_temperature, shared);
  const float inv_sum = 1.0f / st.sum;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x)
    prow[j] = expf(row[j] * inv_temperature - st.max) * inv_sum;
}

}  // namespace

void softmax_xent_forward(Tensor losses, Tensor mean, const Tensor& logits, const Tensor& targets) {
  const int64_t N = logits.size(0), V = logits.size(1);
  if (N > 0) {
    xent_forward_kernel<<<static_cast<unsigned int>(N), kRowThreads>>>(
        data<float>(losses), data<float>(logits), data<int32_t>(targets), V);
    MOE_CUDA_CHECK_LAUNCH();
  }
  mean_in_row_order_kernel<<<1, 1>>>(data<double>(mean), data<float>(losses), N);
  MOE_CUDA_CHECK_LAUNCH();
}

void softmax_xent_backward(Tensor dlogits, const Tensor& logits, const Tensor& targets,
                           float dloss) {
  const int64_t N = logits.size(0), V = logits.size(1);
  if (N == 0) return;
  xent_backward_kernel<<<static_cast<unsigned int>(N), kRowThreads>>>(
      data<float>(dlogits), data<float>(logits), data<int32_t>(targets), dloss, V);
  MOE_CUDA_CHECK_LAUNCH();
}

void softmax_forward(Tensor probs, const Tensor& logits, float temperature) {
  const int64_t N = logits.size(0), V = logits.size(1);
  if (N == 0) return;
  softmax_kernel<<<static_cast<unsigned int>(N), kRowThreads>>>(
      data<float>(probs), data<float>(logits), 1.0f / temperature, V);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
