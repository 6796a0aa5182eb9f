#include "backends/cuda/cast.h"

#include "backends/cuda/check.h"
#include "backends/cuda/tensor_data.h"
#include "core/half.h"
#include "core/rng.h"

namespace moe::cuda {
namespace {

__global__ void to_bf16_kernel(uint16_t* out, const float* src, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = fp32_to_bf16(src[i]);
}

__global__ void to_bf16_stochastic_kernel(uint16_t* out, const float* src, int64_t n,
                                          uint64_t key) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = fp32_to_bf16_stochastic(
        src[i], static_cast<uint32_t>(rng_bits(key, static_cast<uint64_t>(i))));
}

__global__ void from_bf16_kernel(float* out, const uint16_t* src, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = bf16_to_fp32(src[i]);
}

}  // namespace

void cast_to_bf16(Tensor out, const Tensor& src) {
  const int64_t n = src.numel();
  to_bf16_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<uint16_t>(out), data<float>(src), n);
  MOE_CUDA_CHECK_LAUNCH();
}

void cast_to_bf16_stochastic(Tensor out, const Tensor& src, uint64_t key) {
  const int64_t n = src.numel();
  to_bf16_stochastic_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<uint16_t>(out),
                                                                 data<float>(src), n, key);
  MOE_CUDA_CHECK_LAUNCH();
}

void cast_from_bf16(Tensor out, const Tensor& src) {
  const int64_t n = src.numel();
  from_bf16_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(out), data<uint16_t>(src), n);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
