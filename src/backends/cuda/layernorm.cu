#include "backends/cuda/layernorm.h"

#include "backends/cuda/check.h"
#include "backends/cuda/column_sum.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// One warp per row: a row's sums are a fixed strided pass per lane and a fixed shuffle tree.
constexpr int kRowsPerBlock = kThreadsPerBlock / kWarpSize;

// out (N, C), mean (N), rstd (N), x (N, C), w (C), b (C) or nullptr. Two passes in double: the
// mean first, then the variance about it, which avoids the cancellation of E[x^2] - E[x]^2.
__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* x,
                                         const float* w, const float* b, int64_t N, int64_t C,
                                         float eps) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (n >= N) return;  // the whole warp leaves together
  const float* xr = x + n * C;
  double sum = 0.0;
  for (int64_t c = lane; c < C; c += kWarpSize)
    sum += xr[c];
  const double mu = warp_sum(sum) / static_cast<double>(C);
  double sq = 0.0;
  for (int64_t c = lane; c < C; c += kWarpSize) {
    const double d = xr[c] - mu;
    sq += d * d;
  }
  const double rs = 1.0 / sqrt(warp_sum(sq) / static_cast<double>(C) + eps);
  if (lane == 0) {
    mean[n] = static_cast<float>(mu);
    rstd[n] = static_cast<float>(rs);
  }
  const float m = static_cast<float>(mu), r = static_cast<float>(rs);
  float* o = out + n * C;
  for (int64_t c = lane; c < C; c += kWarpSize)
    o[c] = (xr[c] - m) * r * w[c] + (b != nullptr ? b[c] : 0.0f);
}

// With xhat = (x - mean) rstd and g = dout * w, the input gradient of one row is
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
// (the LayerNorm backward as derived in llm.c's layernorm_backward, Karpathy 2024).
__global__ void layernorm_dx_kernel(float* dx, const float* dout, const float* x, const float* w,
                                    const float* mean, const float* rstd, int64_t N, int64_t C) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (n >= N) return;
  const float* xr = x + n * C;
  const float* gr = dout + n * C;
  const float m = mean[n], r = rstd[n];
  double g_sum = 0.0, gx_sum = 0.0;
  for (int64_t c = lane; c < C; c += kWarpSize) {
    const float g = gr[c] * w[c];
    g_sum += g;
    gx_sum += g * (xr[c] - m) * r;
  }
  const float a = static_cast<float>(warp_sum(g_sum) / static_cast<double>(C));
  const float bx = static_cast<float>(warp_sum(gx_sum) / static_cast<double>(C));
  float* d = dx + n * C;
  for (int64_t c = lane; c < C; c += kWarpSize)
    d[c] = r * (gr[c] * w[c] - a - (xr[c] - m) * r * bx);
}

// dw's term: dout * xhat.
struct ScaledInputTerm {
  const float* dout;
  const float* x;
  const float* mean;
  const float* rstd;
  int64_t C;
  __device__ float operator()(int64_t n, int64_t c) const {
    return dout[n * C + c] * (x[n * C + c] - mean[n]) * rstd[n];
  }
};

// db's term: dout.
struct OutputGradTerm {
  const float* dout;
  int64_t C;
  __device__ float operator()(int64_t n, int64_t c) const { return dout[n * C + c]; }
};

}  // namespace

void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, const Tensor& x, const Tensor& w,
                       const Tensor& b, float eps) {
  const int64_t N = x.size(0), C = x.size(1);
  layernorm_forward_kernel<<<blocks_for(N, kRowsPerBlock), kThreadsPerBlock>>>(
      data<float>(out), data<float>(mean), data<float>(rstd), data<float>(x), data<float>(w),
      data_or_null<float>(b), N, C, eps);
  MOE_CUDA_CHECK_LAUNCH();
}

void layernorm_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                        const Tensor& w, const Tensor& mean, const Tensor& rstd) {
  const int64_t N = x.size(0), C = x.size(1);
  layernorm_dx_kernel<<<blocks_for(N, kRowsPerBlock), kThreadsPerBlock>>>(
      data<float>(dx), data<float>(dout), data<float>(x), data<float>(w), data<float>(mean),
      data<float>(rstd), N, C);
  MOE_CUDA_CHECK_LAUNCH();
  accumulate_column_sums(
      data<float>(dw), N, C,
      ScaledInputTerm{data<float>(dout), data<float>(x), data<float>(mean), data<float>(rstd), C});
  if (!db.empty())
    accumulate_column_sums(data<float>(db), N, C, OutputGradTerm{data<float>(dout), C});
}

}  // namespace moe::cuda
