#include "backends/cuda/memory.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "backends/cuda/check.h"

namespace moe::cuda {
namespace {

// The live allocations of allocate() (free() learns their sizes here) and their peak total.
struct Usage {
  std::mutex mutex;
  std::unordered_map<void*, size_t> bytes;
  size_t live = 0, peak = 0;
};

Usage& usage() {
  static Usage u;
  return u;
}

}  // namespace

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
  Usage& u = usage();
  const std::lock_guard lock(u.mutex);
  u.bytes[ptr] = bytes;
  u.live += bytes;
  u.peak = std::max(u.peak, u.live);
  return ptr;
}

void free(void* ptr) {
  MOE_CUDA_CHECK(cudaFree(ptr));
  Usage& u = usage();
  const std::lock_guard lock(u.mutex);
  if (const auto it = u.bytes.find(ptr); it != u.bytes.end()) {
    u.live -= it->second;
    u.bytes.erase(it);
  }
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

size_t peak_memory_bytes() {
  int device = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  cudaMemPool_t pool{};
  MOE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  uint64_t pool_peak = 0;
  MOE_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemHigh, &pool_peak));
  Usage& u = usage();
  const std::lock_guard lock(u.mutex);
  return u.peak + static_cast<size_t>(pool_peak);
}

}  // namespace moe::cuda
