#include "backends/cuda/matmul.h"

#include <algorithm>

#include "backends/cuda/blas.h"
#include "backends/cuda/check.h"
#include "backends/cuda/column_sum.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// cuBLAS requires leading dimensions >= 1 even when the matrix has no columns.
int ld(int64_t cols) {
  return static_cast<int>(std::max<int64_t>(1, cols));
}

int dim(int64_t n) {
  return static_cast<int>(n);
}

// out (N, O) = b broadcast over the rows.
__global__ void broadcast_bias_kernel(float* out, const float* b, int64_t N, int64_t O) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < N * O) out[i] = b[i % O];
}

// db's term: dout.
struct OutputGradTerm {
  const float* dout;
  int64_t O;
  __device__ float operator()(int64_t n, int64_t c) const { return dout[n * O + c]; }
};

}  // namespace

// cuBLAS is column-major: a row-major (r, c) buffer is its transpose (c, r) with ld = c, so each
// row-major product A B is computed as the column-major B^T A^T.
void linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  if (N == 0 || O == 0) return;
  float* y = data<float>(out);
  if (!b.empty()) {
    // Seed every output row with the bias and let gemm add x W^T on top (beta = 1).
    broadcast_bias_kernel<<<blocks_for(N * O), kThreadsPerBlock>>>(y, data<float>(b), N, O);
    MOE_CUDA_CHECK_LAUNCH();
  }
  const float alpha = 1.0f, beta = b.empty() ? 0.0f : 1.0f;
  // out^T (O, N) = w (O, I) @ x^T (I, N)
  MOE_CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, dim(O), dim(N), dim(I),
                               &alpha, data<float>(w), ld(I), data<float>(x), ld(I), &beta, y,
                               dim(O)));
}

void linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                     const Tensor& w) {
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  if (N == 0) return;
  const float one = 1.0f, zero = 0.0f;
  // dx (N, I) = dout (N, O) @ w (O, I), i.e. dx^T (I, N) = w^T (I, O) @ dout^T (O, N).
  if (!dx.empty() && I > 0)
    MOE_CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_N, dim(I), dim(N), dim(O),
                                 &one, data<float>(w), ld(I), data<float>(dout), ld(O), &zero,
                                 data<float>(dx), dim(I)));
  if (O == 0) return;
  // dw (O, I) += dout^T (O, N) @ x (N, I), i.e. dw^T (I, O) += x^T (I, N) @ dout (N, O).
  if (I > 0)
    MOE_CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_T, dim(I), dim(O), dim(N),
                                 &one, data<float>(x), dim(I), data<float>(dout), dim(O), &one,
                                 data<float>(dw), dim(I)));
  if (!db.empty())
    accumulate_column_sums(data<float>(db), N, O, OutputGradTerm{data<float>(dout), O});
}

}  // namespace moe::cuda
