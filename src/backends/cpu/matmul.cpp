#include "backends/cpu/matmul.h"

#include <algorithm>

#include "backends/cpu/blas.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {
namespace {

// BLAS requires leading dimensions >= 1 even when the matrix has no columns.
int64_t ld(int64_t cols) {
  return std::max<int64_t>(1, cols);
}

// Columns per task when summing dout over rows: each task owns its columns and adds the rows
// in order, so the sum does not depend on the thread count.
constexpr int64_t kColumnBlock = 64;

}  // namespace

template <typename T>
void linear_forward(T* out, const T* x, const T* w, const T* b, int64_t N, int64_t I, int64_t O) {
  if (N == 0 || O == 0) return;
  if (b != nullptr) {
    // Seed every output row with the bias and let gemm add x W^T on top (beta = 1).
#pragma omp parallel for if (N * O > kParallelMin)
    for (int64_t n = 0; n < N; ++n)
      std::copy(b, b + O, out + n * O);
  }
  // out (N, O) = x (N, I) @ w (O, I)^T (+ out)
  gemm(CblasNoTrans, CblasTrans, N, O, I, T(1), x, ld(I), w, ld(I), T(b != nullptr ? 1 : 0), out,
       O);
}

template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, int64_t N,
                     int64_t I, int64_t O, InputGrad dx_mode) {
  if (N == 0) return;
  // dx (N, I) = dout (N, O) @ w (O, I) (+ dx)
  if (dx != nullptr && I > 0)
    gemm(CblasNoTrans, CblasNoTrans, N, I, O, T(1), dout, ld(O), w, ld(I),
         T(dx_mode == InputGrad::Accumulate ? 1 : 0), dx, I);
  if (O == 0) return;
  // dw (O, I) += dout (N, O)^T @ x (N, I)
  if (I > 0) gemm(CblasTrans, CblasNoTrans, O, I, N, T(1), dout, O, x, I, T(1), dw, I);
  if (db != nullptr) {
#pragma omp parallel for if (N * O > kParallelMin)
    for (int64_t c0 = 0; c0 < O; c0 += kColumnBlock) {
      const int64_t c1 = std::min(O, c0 + kColumnBlock);
      for (int64_t n = 0; n < N; ++n) {
        const T* row = dout + n * O;
        for (int64_t c = c0; c < c1; ++c)
          db[c] += row[c];
      }
    }
  }
}

void linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    linear_forward(data<T>(out), data<T>(x), data<T>(w), data_or_null<T>(b), x.size(0), x.size(1),
                   w.size(0));
  });
}

void linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                     const Tensor& w, InputGrad dx_mode) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    linear_backward(data_or_null<T>(dx), data<T>(dw), data_or_null<T>(db), data<T>(dout),
                    data<T>(x), data<T>(w), x.size(0), x.size(1), w.size(0), dx_mode);
  });
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int64_t,
                                    int64_t, int64_t);
template void linear_forward<double>(double*, const double*, const double*, const double*, int64_t,
                                     int64_t, int64_t);
template void linear_backward<float>(float*, float*, float*, const float*, const float*,
                                     const float*, int64_t, int64_t, int64_t, InputGrad);
template void linear_backward<double>(double*, double*, double*, const double*, const double*,
                                      const double*, int64_t, int64_t, int64_t, InputGrad);

}  // namespace moe::cpu
