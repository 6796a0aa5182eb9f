#include "backends/cuda/memory.h"

#include <cuda_runtime.h>

#include "backends/cuda/check.h"

namespace moe::cuda {

void* allocate(size_t bytes) {
  void* ptr = nullptr;
  // cudaMalloc(0) gives nullptr, which the contract reserves for "no room": ask for one byte.
  const cudaError_t status = cudaMalloc(&ptr, bytes > 0 ? bytes : 1);
  if (status == cudaErrorMemoryAllocation) {
    // Not a sticky error, but it stays as the last error: clear it so that the next launch
    // check does not report it.
    (void)cudaGetLastError();
    return nullptr;
  }
  MOE_CUDA_CHECK(status);
  return ptr;
}

void free(void* ptr) {
  MOE_CUDA_CHECK(cudaFree(ptr));
}

void zero_memory(void* ptr, size_t bytes) {
  if (bytes == 0) return;
  MOE_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, 0));
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  MOE_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  MOE_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_on_device(void* dst, const void* src, size_t bytes) {
  if (dst == src || bytes == 0) return;
  MOE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0));
}

}  // namespace moe::cuda
