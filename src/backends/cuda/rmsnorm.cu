#include "backends/cuda/rmsnorm.h"

#include "backends/cuda/check.h"
#include "backends/cuda/column_sum.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// One warp per row, as in layernorm.cu.
constexpr int kRowsPerBlock = kThreadsPerBlock / kWarpSize;

// out (N, C), rstd (N), x (N, C), w (C).
__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* x, const float* w,
                                       int64_t N, int64_t C, float eps) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (n >= N) return;  // the whole warp leaves together
  const float* xr = x + n * C;
  double sq = 0.0;
  for (int64_t c = lane; c < C; c += kWarpSize)
    sq += static_cast<double>(xr[c]) * xr[c];
  const float r = static_cast<float>(1.0 / sqrt(warp_sum(sq) / static_cast<double>(C) + eps));
  if (lane == 0) rstd[n] = r;
  float* o = out + n * C;
  for (int64_t c = lane; c < C; c += kWarpSize)
    o[c] = xr[c] * r * w[c];
}

// With xhat = x rstd and g = dout * w, differentiating rstd = (mean(x^2) + eps)^(-1/2) gives
// d rstd / dx_c = -rstd^3 x_c / C, so one row's input gradient is
//   dx = rstd * (g - xhat * mean(g * xhat)).
__global__ void rmsnorm_dx_kernel(float* dx, const float* dout, const float* x, const float* w,
                                  const float* rstd, int64_t N, int64_t C) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (n >= N) return;
  const float* xr = x + n * C;
  const float* gr = dout + n * C;
  const float r = rstd[n];
  double gx_sum = 0.0;
  for (int64_t c = lane; c < C; c += kWarpSize)
    gx_sum += gr[c] * w[c] * xr[c] * r;
  const float bx = static_cast<float>(warp_sum(gx_sum) / static_cast<double>(C));
  float* d = dx + n * C;
  for (int64_t c = lane; c < C; c += kWarpSize)
    d[c] = r * (gr[c] * w[c] - xr[c] * r * bx);
}

// dw's term: dout * xhat.
struct ScaledInputTerm {
  const float* dout;
  const float* x;
  const float* rstd;
  int64_t C;
  __device__ float operator()(int64_t n, int64_t c) const {
    return dout[n * C + c] * x[n * C + c] * rstd[n];
  }
};

}  // namespace

void rmsnorm_forward(Tensor out, Tensor rstd, const Tensor& x, const Tensor& w, float eps) {
  const int64_t N = x.size(0), C = x.size(1);
  rmsnorm_forward_kernel<<<blocks_for(N, kRowsPerBlock), kThreadsPerBlock>>>(
      data<float>(out), data<float>(rstd), data<float>(x), data<float>(w), N, C, eps);
  MOE_CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward(Tensor dx, Tensor dw, const Tensor& dout, const Tensor& x, const Tensor& w,
                      const Tensor& rstd) {
  const int64_t N = x.size(0), C = x.size(1);
  rmsnorm_dx_kernel<<<blocks_for(N, kRowsPerBlock), kThreadsPerBlock>>>(
      data<float>(dx), data<float>(dout), data<float>(x), data<float>(w), data<float>(rstd), N, C);
  MOE_CUDA_CHECK_LAUNCH();
  accumulate_column_sums(data<float>(dw), N, C,
                         ScaledInputTerm{data<float>(dout), data<float>(x), data<float>(rstd), C});
}

}  // namespace moe::cuda
