#include "backends/cuda/blas.h"

#include "backends/cuda/check.h"

namespace moe::cuda {

cublasHandle_t cublas_handle() {
  // Never destroyed: it lives as long as the process, and destroying it during static
  // destruction could run after the CUDA runtime has shut down.
  static const cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    MOE_CUBLAS_CHECK(cublasCreate(&h));
    MOE_CUBLAS_CHECK(cublasSetStream(h, 0));
    // Default math: fp32 products in fp32, no TF32 (CUBLAS_TF32_TENSOR_OP_MATH would trade
    // mantissa bits for speed, which the fp64 reference checks are not sized for).
    MOE_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    return h;
  }();
  return handle;
}

}  // namespace moe::cuda
