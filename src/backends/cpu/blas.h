// The CPU backend's one door to BLAS (OpenBLAS): row-major GEMM in single and double precision,
// and the kernel family OpenBLAS runs.
#pragma once
#include <cblas.h>

#include <cstdint>

namespace moe::cpu {

// Row-major C (M, N) = alpha op(A) op(B) + beta C, op(A) (M, K), op(B) (K, N); the overload picks
// sgemm or dgemm.
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc);
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc);

// The OpenBLAS kernel family in use ("SkylakeX", "Haswell", ...), chosen by OpenBLAS when it
// loads (or by OPENBLAS_CORETYPE); logged in a run's start record and by the benchmarks, since
// the same machine runs sgemm at very different rates with different families.
const char* blas_kernels();

}  // namespace moe::cpu
