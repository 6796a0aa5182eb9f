#include "backends/cpu/layernorm.h"

#include <algorithm>
#include <cmath>

#include "backends/cpu/parallel.h"
#include "backends/cpu/row_sum.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {
namespace {

// Channels per task for the parameter gradients: a task owns its channels and adds the rows in
// order, so dw and db do not depend on the thread count.
constexpr int64_t kChannelBlock = 64;

}  // namespace

template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t N,
                       int64_t C, float eps) {
#pragma omp parallel for if (N * C > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    // Two passes in double: the mean first, then the variance about it, which avoids the
    // cancellation of E[x^2] - E[x]^2.
    const double mu = row_sum(C, [&](int64_t c) { return static_cast<double>(xr[c]); }) / C;
    const double sq = row_sum(C, [&](int64_t c) {
      const double d = xr[c] - mu;
      return d * d;
    });
    const double rs = 1.0 / std::sqrt(sq / C + eps);
    mean[n] = static_cast<T>(mu);
    rstd[n] = static_cast<T>(rs);
    const T m = static_cast<T>(mu), r = static_cast<T>(rs);
    T* o = out + n * C;
    for (int64_t c = 0; c < C; ++c)
      o[c] = (xr[c] - m) * r * w[c] + (b != nullptr ? b[c] : T(0));
  }
}

// With xhat = (x - mean) rstd and g = dout * w, the input gradient of one row is
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
// (the LayerNorm backward as derived in llm.c's layernorm_backward, Karpathy 2024).
template <typename T>
void layernorm_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, const T* mean,
                        const T* rstd, int64_t N, int64_t C) {
#pragma omp parallel for if (N * C > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    const T* gr = dout + n * C;
    const T m = mean[n], r = rstd[n];
    const double g_mean = row_sum(C, [&](int64_t c) { return static_cast<double>(gr[c] * w[c]); });
    const double gx_mean =
        row_sum(C, [&](int64_t c) { return static_cast<double>(gr[c] * w[c] * (xr[c] - m) * r); });
    const T a = static_cast<T>(g_mean / C), bx = static_cast<T>(gx_mean / C);
    T* d = dx + n * C;
    for (int64_t c = 0; c < C; ++c)
      d[c] = r * (gr[c] * w[c] - a - (xr[c] - m) * r * bx);
  }
#pragma omp parallel for if (N * C > kParallelMin)
  for (int64_t c0 = 0; c0 < C; c0 += kChannelBlock) {
    const int64_t c1 = std::min(C, c0 + kChannelBlock);
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + n * C;
      const T* gr = dout + n * C;
      const T m = mean[n], r = rstd[n];
      for (int64_t c = c0; c < c1; ++c)
        dw[c] += gr[c] * (xr[c] - m) * r;
      if (db != nullptr)
        for (int64_t c = c0; c < c1; ++c)
          db[c] += gr[c];
    }
  }
}

void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, const Tensor& x, const Tensor& w,
                       const Tensor& b, float eps) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    layernorm_forward(data<T>(out), data<T>(mean), data<T>(rstd), data<T>(x), data<T>(w),
                      data_or_null<T>(b), x.size(0), x.size(1), eps);
  });
}

void layernorm_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                        const Tensor& w, const Tensor& mean, const Tensor& rstd) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    layernorm_backward(data<T>(dx), data<T>(dw), data_or_null<T>(db), data<T>(dout), data<T>(x),
                       data<T>(w), data<T>(mean), data<T>(rstd), x.size(0), x.size(1));
  });
}

template void layernorm_forward<float>(float*, float*, float*, const float*, const float*,
                                       const float*, int64_t, int64_t, float);
template void layernorm_forward<double>(double*, double*, double*, const double*, const double*,
                                        const double*, int64_t, int64_t, float);
template void layernorm_backward<float>(float*, float*, float*, const float*, const float*,
                                        const float*, const float*, const float*, int64_t, int64_t);
template void layernorm_backward<double>(double*, double*, double*, const double*, const double*,
                                         const double*, const double*, const double*, int64_t,
                                         int64_t);

}  // namespace moe::cpu
