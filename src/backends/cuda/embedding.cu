#include "backends/cuda/embedding.h"

#include <cub/device/device_radix_sort.cuh>

#include "backends/cuda/check.h"
#include "backends/cuda/column_sum.h"
#include "backends/cuda/scratch.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// out (N, C) = wte[tokens[row]] + wpe[pos_offset + row % Tn], one thread per element.
__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* wte,
                                         const float* wpe, int64_t N, int64_t Tn, int64_t C,
                                         int64_t pos_offset) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * C) return;
  const int64_t row = i / C, c = i % C;
  const float e = wte[static_cast<int64_t>(tokens[row]) * C + c];
  out[i] = wpe == nullptr ? e : e + wpe[(pos_offset + row % Tn) * C + c];
}

__global__ void iota_kernel(int32_t* rows, int64_t N) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < N) rows[i] = static_cast<int32_t>(i);
}

// The rows sorted stably by token: sorted_tokens (N), sorted_rows (N), so the rows of one token
// form a run, in their original order. Block k handles the run that starts at position k (the
// other blocks leave at once): each thread owns columns of that token's dwte row and adds the
// run's dout rows in order. dwte (V, C) +=; dout (N, C).
__global__ void embedding_token_grad_kernel(float* dwte, const float* dout,
                                            const int32_t* sorted_tokens,
                                            const int32_t* sorted_rows, int64_t N, int64_t C) {
  const int64_t k = blockIdx.x;
  const int32_t token = sorted_tokens[k];
  if (k > 0 && sorted_tokens[k - 1] == token) return;
  int64_t end = k + 1;
  while (end < N && sorted_tokens[end] == token)
    ++end;
  float* dw = dwte + static_cast<int64_t>(token) * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float sum = 0.0f;
    for (int64_t j = k; j < end; ++j)
      sum += dout[static_cast<int64_t>(sorted_rows[j]) * C + c];
    dw[c] += sum;
  }
}

// dwpe's term over the batch: dout viewed as (B, Tn * C).
struct BatchTerm {
  const float* dout;
  int64_t TC;
  __device__ float operator()(int64_t b, int64_t j) const { return dout[b * TC + j]; }
};

// Bits that hold every token id below V, so the radix sort does only the passes it needs.
int key_bits(int64_t V) {
  int bits = 1;
  while (bits < 31 && (int64_t{1} << bits) < V)
    ++bits;
  return bits;
}

}  // namespace

void embedding_forward(Tensor out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe,
                       int64_t pos_offset) {
  const int64_t N = tokens.numel(), Tn = tokens.size(1), C = wte.size(1);
  embedding_forward_kernel<<<blocks_for(N * C), kThreadsPerBlock>>>(
      data<float>(out), data<int32_t>(tokens), data<float>(wte), data_or_null<float>(wpe), N, Tn, C,
      pos_offset);
  MOE_CUDA_CHECK_LAUNCH();
}

// The token gradient without float atomics: a stable radix sort of the row indices by token
// (cub::DeviceRadixSort, whose output is fully determined by its input), then one pass that
// sums each token's rows in their original order, as the CPU does. Work O(N C + sort).
void embedding_backward(Tensor dwte, Tensor dwpe, const Tensor& dout, const Tensor& tokens) {
  const int64_t B = tokens.size(0), Tn = tokens.size(1), N = B * Tn, C = dwte.size(1);
  if (N == 0 || C == 0) return;
  const int n = static_cast<int>(N);  // the ops layer keeps token counts within int32
  Scratch<int32_t> rows(N), sorted_tokens(N), sorted_rows(N);
  iota_kernel<<<blocks_for(N), kThreadsPerBlock>>>(rows.get(), N);
  MOE_CUDA_CHECK_LAUNCH();
  const int end_bit = key_bits(dwte.size(0));
  size_t temp_bytes = 0;
  MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, data<int32_t>(tokens),
                                                 sorted_tokens.get(), rows.get(), sorted_rows.get(),
                                                 n, 0, end_bit, 0));
  Scratch<char> temp(temp_bytes);
  MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, data<int32_t>(tokens),
                                                 sorted_tokens.get(), rows.get(), sorted_rows.get(),
                                                 n, 0, end_bit, 0));
  embedding_token_grad_kernel<<<static_cast<unsigned int>(N), kThreadsPerBlock>>>(
      data<float>(dwte), data<float>(dout), sorted_tokens.get(), sorted_rows.get(), N, C);
  MOE_CUDA_CHECK_LAUNCH();
  if (!dwpe.empty())
    accumulate_column_sums(data<float>(dwpe), B, Tn * C, BatchTerm{data<float>(dout), Tn * C});
}

}  // namespace moe::cuda
