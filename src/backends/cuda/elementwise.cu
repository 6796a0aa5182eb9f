#include "backends/cuda/elementwise.h"

#include <cmath>

#include "backends/cuda/check.h"
#include "backends/cuda/memory.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/scratch.h"
#include "backends/cuda/tensor_data.h"
#include "core/rng.h"

namespace moe::cuda {
namespace {

// sum_squares: a fixed number of blocks (independent of the device), each adding a fixed
// strided set of elements per thread, then a fixed tree; pass 2 adds the block sums in order.
constexpr int kSumBlocks = 256;

// T is float for the model's tensors, double for the trainer's step statistics.
template <typename T>
__global__ void fill_kernel(T* t, int64_t n, T value) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) t[i] = value;
}

template <typename T>
__global__ void add_kernel(T* out, const T* a, const T* b, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}

__global__ void add_widened_kernel(double* sum, const float* x, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) sum[i] += static_cast<double>(x[i]);
}

__global__ void scale_kernel(float* t, int64_t n, float s) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) t[i] *= s;
}

// partial (kSumBlocks) = each block's sum of t^2 in fp64.
__global__ void sum_squares_partial_kernel(double* partial, const float* t, int64_t n) {
  __shared__ double shared[kWarpSize];
  double s = 0.0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    s += static_cast<double>(t[i]) * static_cast<double>(t[i]);
  s = block_sum(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// sum (1) = the sum of partial (kSumBlocks), one block of kSumBlocks threads.
__global__ void sum_partials_kernel(double* sum, const double* partial) {
  __shared__ double shared[kWarpSize];
  const double s = block_sum(partial[threadIdx.x], shared);
  if (threadIdx.x == 0) *sum = s;
}

__global__ void set_int_kernel(int32_t* out, int32_t value) {
  *out = value;
}

// finite (1) was set to 1; any thread that sees a non-finite element writes 0 (every such write
// stores the same value, so the result does not depend on their order).
__global__ void all_finite_kernel(int32_t* finite, const float* t, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n && !isfinite(t[i])) *finite = 0;
}

// Box-Muller as core/rng.cpp's rng_normal, in fp64. CUDA's log and cos are within an ulp or two
// of glibc's in fp64, so after rounding to float a value can, rarely, differ from the CPU's in
// the last bit.
__global__ void fill_normal_kernel(float* t, int64_t n, float mean, float std, uint64_t key) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint64_t bits = rng_bits(key, static_cast<uint64_t>(i));
  const double u1 = (static_cast<double>(bits >> 32) + 1.0) * (1.0 / 4294967296.0);
  const double u2 = static_cast<double>(bits & 0xFFFFFFFFull) * (1.0 / 4294967296.0);
  const float z = static_cast<float>(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
  t[i] = mean + std * z;
}

__global__ void fill_uniform_kernel(float* t, int64_t n, float lo, float hi, uint64_t key) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) t[i] = lo + (hi - lo) * rng_uniform(key, static_cast<uint64_t>(i));
}

}  // namespace

void fill(Tensor t, float value) {
  const int64_t n = t.numel();
  if (value == 0.0f) {
    zero_memory(t.ptr, t.bytes());
    return;
  }
  if (t.dtype == DType::F64)
    fill_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<double>(t), n,
                                                     static_cast<double>(value));
  else
    fill_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(t), n, value);
  MOE_CUDA_CHECK_LAUNCH();
}

void add(Tensor out, const Tensor& a, const Tensor& b) {
  const int64_t n = a.numel();
  if (a.dtype == DType::F64)
    add_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<double>(out), data<double>(a),
                                                    data<double>(b), n);
  else
    add_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(out), data<float>(a),
                                                    data<float>(b), n);
  MOE_CUDA_CHECK_LAUNCH();
}

void add_widened(Tensor sum, const Tensor& x) {
  const int64_t n = x.numel();
  add_widened_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<double>(sum), data<float>(x), n);
  MOE_CUDA_CHECK_LAUNCH();
}

void scale_inplace(Tensor t, float s) {
  const int64_t n = t.numel();
  scale_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(t), n, s);
  MOE_CUDA_CHECK_LAUNCH();
}

void sum_squares(Tensor sum, const Tensor& t) {
  Scratch<double> partial(kSumBlocks);
  sum_squares_partial_kernel<<<kSumBlocks, kThreadsPerBlock>>>(partial.get(), data<float>(t),
                                                               t.numel());
  MOE_CUDA_CHECK_LAUNCH();
  sum_partials_kernel<<<1, kSumBlocks>>>(data<double>(sum), partial.get());
  MOE_CUDA_CHECK_LAUNCH();
}

void all_finite(Tensor finite, const Tensor& t) {
  const int64_t n = t.numel();
  set_int_kernel<<<1, 1>>>(data<int32_t>(finite), 1);
  MOE_CUDA_CHECK_LAUNCH();
  all_finite_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<int32_t>(finite), data<float>(t), n);
  MOE_CUDA_CHECK_LAUNCH();
}

void fill_normal(Tensor t, float mean, float std, uint64_t key) {
  const int64_t n = t.numel();
  fill_normal_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(t), n, mean, std, key);
  MOE_CUDA_CHECK_LAUNCH();
}

void fill_uniform(Tensor t, float lo, float hi, uint64_t key) {
  const int64_t n = t.numel();
  fill_uniform_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(t), n, lo, hi, key);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
