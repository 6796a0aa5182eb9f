#include "backends/cuda/check.h"

namespace moe::cuda {

void fail_cuda(cudaError_t status, const char* call, const char* file, int line) {
  fail("CUDA error: ", cudaGetErrorString(status), " (", cudaGetErrorName(status), ") in ", call,
       " at ", file, ":", line);
}

void fail_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  fail("cuBLAS error: ", cublasGetStatusString(status), " in ", call, " at ", file, ":", line);
}

}  // namespace moe::cuda
