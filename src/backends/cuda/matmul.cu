#include "backends/cuda/matmul.h"

#include <algorithm>

#include "backends/cuda/blas.h"
#include "backends/cuda/check.h"
#include "backends/cuda/column_sum.h"
#include "backends/cuda/tensor_data.h"
#include "backends/cuda/widen.h"

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
template <typename In>
struct OutputGradTerm {
  const In* dout;
  int64_t O;
  __device__ float operator()(int64_t n, int64_t c) const { return widen(dout[n * O + c]); }
};

// C (m, n) = alpha op(A) op(B) + beta C, column-major, with fp32 C and scalars: sgemm for fp32
// inputs; for bf16 inputs cublasGemmEx with fp32 compute (CUBLAS_COMPUTE_32F), so the products
// accumulate in fp32 as on the CPU backend (backends/cpu/bf16.h).
void gemm(cublasOperation_t op_a, cublasOperation_t op_b, int64_t m, int64_t n, int64_t k,
          const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta,
          float* c, int ldc) {
  MOE_CUBLAS_CHECK(cublasSgemm(cublas_handle(), op_a, op_b, dim(m), dim(n), dim(k), alpha, a, lda,
                               b, ldb, beta, c, ldc));
}
void gemm(cublasOperation_t op_a, cublasOperation_t op_b, int64_t m, int64_t n, int64_t k,
          const float* alpha, const uint16_t* a, int lda, const uint16_t* b, int ldb,
          const float* beta, float* c, int ldc) {
  MOE_CUBLAS_CHECK(cublasGemmEx(cublas_handle(), op_a, op_b, dim(m), dim(n), dim(k), alpha, a,
                                CUDA_R_16BF, lda, b, CUDA_R_16BF, ldb, beta, c, CUDA_R_32F, ldc,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// cuBLAS is column-major: a row-major (r, c) buffer is its transpose (c, r) with ld = c, so each
// row-major product A B is computed as the column-major B^T A^T. In: the inputs' element type
// (float, or uint16_t for bf16); outputs, bias and gradients are fp32.
template <typename In>
void typed_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b) {
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
  gemm(CUBLAS_OP_T, CUBLAS_OP_N, O, N, I, &alpha, data<In>(w), ld(I), data<In>(x), ld(I), &beta, y,
       dim(O));
}

template <typename In>
void typed_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                           const Tensor& w, InputGrad dx_mode) {
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  if (N == 0) return;
  const float one = 1.0f, dx_beta = dx_mode == InputGrad::Accumulate ? 1.0f : 0.0f;
  // dx (N, I) = dout (N, O) @ w (O, I) (+ dx), i.e. dx^T (I, N) = w^T (I, O) @ dout^T (O, N).
  if (!dx.empty() && I > 0)
    gemm(CUBLAS_OP_N, CUBLAS_OP_N, I, N, O, &one, data<In>(w), ld(I), data<In>(dout), ld(O),
         &dx_beta, data<float>(dx), dim(I));
  if (O == 0) return;
  // dw (O, I) += dout^T (O, N) @ x (N, I), i.e. dw^T (I, O) += x^T (I, N) @ dout (N, O).
  if (I > 0)
    gemm(CUBLAS_OP_N, CUBLAS_OP_T, I, O, N, &one, data<In>(x), dim(I), data<In>(dout), dim(O), &one,
         data<float>(dw), dim(I));
  if (!db.empty())
    accumulate_column_sums(data<float>(db), N, O, OutputGradTerm<In>{data<In>(dout), O});
}

}  // namespace

void linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b) {
  typed_linear_forward<float>(out, x, w, b);
}

void linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                     const Tensor& w, InputGrad dx_mode) {
  typed_linear_backward<float>(dx, dw, db, dout, x, w, dx_mode);
}

void bf16_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b) {
  typed_linear_forward<uint16_t>(out, x, w, b);
}

void bf16_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                          const Tensor& w, InputGrad dx_mode) {
  typed_linear_backward<uint16_t>(dx, dw, db, dout, x, w, dx_mode);
}

}  // namespace moe::cuda
