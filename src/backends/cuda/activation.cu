#include "backends/cuda/activation.h"

#include "backends/cuda/check.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// 1 / (1 + e^-g): expf overflows to inf for very negative g, which gives the correct limit 0.
__device__ inline float sigmoid(float g) {
  return 1.0f / (1.0f + expf(-g));
}

__global__ void relu_forward_kernel(float* out, const float* x, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void relu_backward_kernel(float* dx, const float* dout, const float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dx[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

__global__ void swiglu_forward_kernel(float* out, const float* gate, const float* up, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

// d silu(g)/dg = sig(g) (1 + g (1 - sig(g))) (Elfwing et al. 2018, SiLU).
__global__ void swiglu_backward_kernel(float* dgate, float* dup, const float* dout,
                                       const float* gate, const float* up, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i], u = up[i], d = dout[i];
  const float sig = sigmoid(g);
  dgate[i] = d * u * sig * (1.0f + g * (1.0f - sig));
  dup[i] = d * g * sig;
}

}  // namespace

void relu_forward(Tensor out, const Tensor& x) {
  const int64_t n = x.numel();
  relu_forward_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(out), data<float>(x), n);
  MOE_CUDA_CHECK_LAUNCH();
}

void relu_backward(Tensor dx, const Tensor& dout, const Tensor& out) {
  const int64_t n = out.numel();
  relu_backward_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(dx), data<float>(dout),
                                                            data<float>(out), n);
  MOE_CUDA_CHECK_LAUNCH();
}

void swiglu_forward(Tensor out, const Tensor& gate, const Tensor& up) {
  const int64_t n = gate.numel();
  swiglu_forward_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(out), data<float>(gate),
                                                             data<float>(up), n);
  MOE_CUDA_CHECK_LAUNCH();
}

void swiglu_backward(Tensor dgate, Tensor dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up) {
  const int64_t n = gate.numel();
  swiglu_backward_kernel<<<blocks_for(n), kThreadsPerBlock>>>(data<float>(dgate), data<float>(dup),
                                                              data<float>(dout), data<float>(gate),
                                                              data<float>(up), n);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
