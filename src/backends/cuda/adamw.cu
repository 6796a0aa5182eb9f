#include "backends/cuda/adamw.h"

#include <cmath>

#include "backends/cuda/check.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, int64_t n,
                             float beta1, float beta2, float eps, float step_size, float bc2_sqrt,
                             float decay) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = grad[i];
  const float mi = beta1 * m[i] + (1.0f - beta1) * g;
  const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = param[i] * decay - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
}

}  // namespace

void adamw_update(Tensor param, const Tensor& grad, Tensor m, Tensor v, const AdamWArgs& args) {
  // The per-step scalars on the host, as the CPU kernel forms them (torch's _single_tensor_adamw):
  // step_size = lr / bc1 and the denominator sqrt(v) / sqrt(bc2) + eps.
  const double bc1 =
      1.0 - std::pow(static_cast<double>(args.beta1), static_cast<double>(args.step));
  const double bc2 =
      1.0 - std::pow(static_cast<double>(args.beta2), static_cast<double>(args.step));
  const float step_size = static_cast<float>(args.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = static_cast<float>(1.0 - static_cast<double>(args.lr) * args.weight_decay);
  const int64_t n = param.numel();
  adamw_kernel<<<blocks_for(n), kThreadsPerBlock>>>(
      data<float>(param), data<float>(grad), data<float>(m), data<float>(v), n, args.beta1,
      args.beta2, args.eps, step_size, bc2_sqrt, decay);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
