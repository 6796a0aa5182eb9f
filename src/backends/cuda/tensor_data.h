// What every CUDA table entry needs: typed device pointers into the (already validated) tensors
// it is given, and launch sizes. Every kernel runs on the default stream, so launches are ordered
// with each other and with the copies in memory.cu without further synchronisation.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

// The elements of t as T (device memory). The ops layer checked dtype and device.
template <typename T>
T* data(const Tensor& t) {
  return static_cast<T*>(t.ptr);
}

// data<T>(t), or nullptr for an empty (optional) tensor.
template <typename T>
T* data_or_null(const Tensor& t) {
  return t.empty() ? nullptr : static_cast<T*>(t.ptr);
}

// Threads per block of the one-thread-per-element kernels.
inline constexpr int kThreadsPerBlock = 256;

// Blocks that cover n elements with `threads` threads each (at least one, so a launch for an
// empty tensor is still valid).
inline unsigned int blocks_for(int64_t n, int threads = kThreadsPerBlock) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned int>(blocks > 0 ? blocks : 1);
}

}  // namespace moe::cuda
