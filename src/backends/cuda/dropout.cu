#include "backends/cuda/dropout.h"

#include "backends/cuda/check.h"
#include "backends/cuda/memory.h"
#include "backends/cuda/tensor_data.h"
#include "core/rng.h"

namespace moe::cuda {
namespace {

// out (n) = x / (1 - p) where kept, else 0; out may alias x.
__global__ void dropout_kernel(float* out, const float* x, int64_t n, float scale,
                               uint32_t threshold, uint64_t key) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = rng_keep(key, static_cast<uint64_t>(i), threshold) ? x[i] * scale : 0.0f;
}

void dropout(float* out, const float* x, int64_t n, float p, uint64_t key) {
  if (p == 0.0f) {
    copy_on_device(out, x, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  // The scale as the CPU forms it: 1 / (1 - p) in double, rounded once.
  const float scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(p)));
  dropout_kernel<<<blocks_for(n), kThreadsPerBlock>>>(out, x, n, scale, dropout_threshold(p), key);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void dropout_forward(Tensor out, const Tensor& x, float p, uint64_t key) {
  dropout(data<float>(out), data<float>(x), x.numel(), p, key);
}

// The map is linear and diagonal, so its transpose is itself.
void dropout_backward(Tensor dx, const Tensor& dout, float p, uint64_t key) {
  dropout(data<float>(dx), data<float>(dout), dout.numel(), p, key);
}

}  // namespace moe::cuda
