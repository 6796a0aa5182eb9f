#include "backends/cpu/rmsnorm.h"

#include <algorithm>
#include <cmath>

#include "backends/cpu/parallel.h"
#include "backends/cpu/row_sum.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {
namespace {

// Channels per task for dw: a task owns its channels and adds the rows in order, so dw does not
// depend on the thread count.
constexpr int64_t kChannelBlock = 64;

}  // namespace

template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int64_t N, int64_t C, float eps) {
#pragma omp parallel for if (N * C > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    const double sq = row_sum(C, [&](int64_t c) { return static_cast<double>(xr[c]) * xr[c]; });
    const T r = static_cast<T>(1.0 / std::sqrt(sq / C + eps));
    rstd[n] = r;
    T* o = out + n * C;
    for (int64_t c = 0; c < C; ++c)
      o[c] = xr[c] * r * w[c];
  }
}

// With xhat = x rstd and g = dout * w, differentiating rstd = (mean(x^2) + eps)^(-1/2) gives
// d rstd / dx_c = -rstd^3 x_c / C, so one row's input gradient is
//   dx = rstd * (g - xhat * mean(g * xhat)).
template <typename T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t N,
                      int64_t C) {
#pragma omp parallel for if (N * C > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    const T* gr = dout + n * C;
    const T r = rstd[n];
    const double gx_mean =
        row_sum(C, [&](int64_t c) { return static_cast<double>(gr[c] * w[c] * xr[c] * r); });
    const T bx = static_cast<T>(gx_mean / C);
    T* d = dx + n * C;
    for (int64_t c = 0; c < C; ++c)
      d[c] = r * (gr[c] * w[c] - xr[c] * r * bx);
  }
#pragma omp parallel for if (N * C > kParallelMin)
  for (int64_t c0 = 0; c0 < C; c0 += kChannelBlock) {
    const int64_t c1 = std::min(C, c0 + kChannelBlock);
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + n * C;
      const T* gr = dout + n * C;
      const T r = rstd[n];
      for (int64_t c = c0; c < c1; ++c)
        dw[c] += gr[c] * xr[c] * r;
    }
  }
}

void rmsnorm_forward(Tensor out, Tensor rstd, const Tensor& x, const Tensor& w, float eps) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    rmsnorm_forward(data<T>(out), data<T>(rstd), data<T>(x), data<T>(w), x.size(0), x.size(1), eps);
  });
}

void rmsnorm_backward(Tensor dx, Tensor dw, const Tensor& dout, const Tensor& x, const Tensor& w,
                      const Tensor& rstd) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    rmsnorm_backward(data<T>(dx), data<T>(dw), data<T>(dout), data<T>(x), data<T>(w), data<T>(rstd),
                     x.size(0), x.size(1));
  });
}

template void rmsnorm_forward<float>(float*, float*, const float*, const float*, int64_t, int64_t,
                                     float);
template void rmsnorm_forward<double>(double*, double*, const double*, const double*, int64_t,
                                      int64_t, float);
template void rmsnorm_backward<float>(float*, float*, const float*, const float*, const float*,
                                      const float*, int64_t, int64_t);
template void rmsnorm_backward<double>(double*, double*, const double*, const double*,
                                       const double*, const double*, int64_t, int64_t);

}  // namespace moe::cpu
