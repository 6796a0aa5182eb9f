// Device helpers for the reductions of the CUDA kernels (included by .cu files only). Every sum
// is taken in a fixed order, a shuffle tree within each warp and then the warps' sums in warp
// order, so the same inputs give the same bits on every run.
#pragma once
#include <cuda_runtime.h>

namespace moe::cuda {

inline constexpr int kWarpSize = 32;
inline constexpr unsigned kFullWarp = 0xFFFFFFFFu;

// The sum of v over the 32 lanes of a warp, returned to every lane.
template <typename T>
__device__ inline T warp_sum(T v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(kFullWarp, v, offset);
  return v;
}

// The maximum of v over the 32 lanes of a warp, returned to every lane.
__device__ inline float warp_max(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(kFullWarp, v, offset));
  return v;
}

// The sum of v over the block (blockDim.x a multiple of 32, at most 1024), returned to every
// thread: each thread adds the warps' sums in warp order. `shared` holds 32 values; the call ends
// with the block synchronised, so it can be called again with the same `shared`.
template <typename T>
__device__ inline T block_sum(T v, T* shared) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  v = warp_sum(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / kWarpSize;
  T total = shared[0];
  for (int w = 1; w < warps; ++w)
    total += shared[w];
  __syncthreads();
  return total;
}

// The maximum of v over the block, as block_sum.
__device__ inline float block_max(float v, float* shared) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  v = warp_max(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / kWarpSize;
  float m = shared[0];
  for (int w = 1; w < warps; ++w)
    m = fmaxf(m, shared[w]);
  __syncthreads();
  return m;
}

}  // namespace moe::cuda
