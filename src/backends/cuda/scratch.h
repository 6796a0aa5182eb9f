// Temporary device memory for one kernel entry's intermediate results (partial sums, sort
// buffers): allocated and freed in stream order on the default stream (cudaMallocAsync), so it
// makes the host wait for nothing and is reused from the driver's pool.
#pragma once
#include <cstddef>

#include <cuda_runtime.h>

#include "backends/cuda/check.h"

namespace moe::cuda {

template <typename T>
class Scratch {
 public:
  explicit Scratch(size_t count) {
    MOE_CUDA_CHECK(
        cudaMallocAsync(reinterpret_cast<void**>(&ptr_), (count > 0 ? count : 1) * sizeof(T), 0));
  }
  // Freed after the kernels queued before it, which are the only ones that use it.
  ~Scratch() { (void)cudaFreeAsync(ptr_, 0); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
};

}  // namespace moe::cuda
