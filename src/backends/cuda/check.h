// Error checks for CUDA runtime and cuBLAS calls: a failure becomes a moe::Error with one line
// that names the call, the library's own message and where it was made.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/check.h"

namespace moe::cuda {

[[noreturn]] void fail_cuda(cudaError_t status, const char* call, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t status, const char* call, const char* file, int line);

}  // namespace moe::cuda

// MOE_CUDA_CHECK(cudaMemcpy(...)): throws when the call does not return cudaSuccess.
#define MOE_CUDA_CHECK(call)                                               \
  do {                                                                     \
    const cudaError_t moe_cuda_status_ = (call);                           \
    if (moe_cuda_status_ != cudaSuccess)                                   \
      ::moe::cuda::fail_cuda(moe_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)

// MOE_CUBLAS_CHECK(cublasSgemm(...)): throws when the call does not return CUBLAS_STATUS_SUCCESS.
#define MOE_CUBLAS_CHECK(call)                                                 \
  do {                                                                         \
    const cublasStatus_t moe_cublas_status_ = (call);                          \
    if (moe_cublas_status_ != CUBLAS_STATUS_SUCCESS)                           \
      ::moe::cuda::fail_cublas(moe_cublas_status_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a bad launch configuration is reported at once, not at the next sync.
#define MOE_CUDA_CHECK_LAUNCH() MOE_CUDA_CHECK(cudaGetLastError())
