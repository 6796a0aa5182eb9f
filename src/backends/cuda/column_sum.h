// dst (C) += sum over rows n of term(n, c), deterministically and without atomics (included by
// .cu files only). Used for the parameter gradients that sum over rows: the norms' weight and
// bias, the linear bias, the position embedding.
//
// The rows are split into a number of chunks that depends only on N; pass 1 gives each thread
// one (chunk, column) and adds that chunk's rows in order; pass 2 adds the chunks' partial sums
// in chunk order into dst. The order of every addition is fixed, whatever the device.
#pragma once
#include <algorithm>
#include <cstdint>

#include "backends/cuda/check.h"
#include "backends/cuda/scratch.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {

// At most this many chunks, each of at least kMinChunkRows rows.
inline constexpr int64_t kMaxRowChunks = 64;
inline constexpr int64_t kMinChunkRows = 32;

// partial (chunks, C) = the chunk's sum of term(n, c); or, with partial == nullptr (one chunk),
// dst (C) += it directly.
template <typename Term>
__global__ void column_partial_sums_kernel(float* partial, float* dst, int64_t N, int64_t C,
                                           int64_t chunk_rows, Term term) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const int64_t chunk = blockIdx.y;
  const int64_t begin = chunk * chunk_rows;
  const int64_t end = begin + chunk_rows < N ? begin + chunk_rows : N;
  float sum = 0.0f;
  for (int64_t n = begin; n < end; ++n)
    sum += term(n, c);
  if (partial == nullptr)
    dst[c] += sum;
  else
    partial[chunk * C + c] = sum;
}

// dst (C) += sum over k of partial (chunks, C)[k, c], in chunk order.
template <typename T>
__global__ void add_column_partials_kernel(T* dst, const T* partial, int64_t chunks, int64_t C) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  T sum = T(0);
  for (int64_t k = 0; k < chunks; ++k)
    sum += partial[k * C + c];
  dst[c] += sum;
}

template <typename Term>
void accumulate_column_sums(float* dst, int64_t N, int64_t C, Term term) {
  if (N == 0 || C == 0) return;
  const int64_t chunks = std::clamp<int64_t>(N / kMinChunkRows, 1, kMaxRowChunks);
  const int64_t chunk_rows = (N + chunks - 1) / chunks;
  const dim3 grid(blocks_for(C), static_cast<unsigned int>(chunks));
  if (chunks == 1) {
    column_partial_sums_kernel<<<grid, kThreadsPerBlock>>>(nullptr, dst, N, C, chunk_rows, term);
    MOE_CUDA_CHECK_LAUNCH();
    return;
  }
  Scratch<float> partial(static_cast<size_t>(chunks * C));
  column_partial_sums_kernel<<<grid, kThreadsPerBlock>>>(partial.get(), dst, N, C, chunk_rows,
                                                         term);
  MOE_CUDA_CHECK_LAUNCH();
  add_column_partials_kernel<<<blocks_for(C), kThreadsPerBlock>>>(dst, partial.get(), chunks, C);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
