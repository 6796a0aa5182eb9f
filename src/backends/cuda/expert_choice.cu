#include "backends/cuda/expert_choice.h"

#include <algorithm>

#include <cub/device/device_radix_sort.cuh>

#include "backends/cuda/check.h"
#include "backends/cuda/scratch.h"
#include "backends/cuda/tensor_data.h"
#include "core/check.h"

namespace moe::cuda {
namespace {

__global__ void slot_iota_kernel(int32_t* slots, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) slots[i] = static_cast<int32_t>(i);
}

// expert_of (slots) = the expert of each slot of `order` (slots).
__global__ void expert_of_kernel(int32_t* expert_of, const int32_t* order, const int32_t* topk_idx,
                                 int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) expert_of[i] = topk_idx[order[i]];
}

// One block: each expert's candidate count (integer atomics, order-free), then thread 0 turns
// them into the start of each expert's run in the sorted order, start (E), and the plan's
// offsets (E+1), which keep at most `capacity` rows per expert.
__global__ void offsets_kernel(int32_t* start, int32_t* expert_offsets, const int32_t* topk_idx,
                               int64_t count, int E, int64_t capacity) {
  extern __shared__ int32_t counts[];  // (E)
  for (int e = threadIdx.x; e < E; e += blockDim.x)
    counts[e] = 0;
  __syncthreads();
  for (int64_t s = threadIdx.x; s < count; s += blockDim.x)
    atomicAdd(&counts[topk_idx[s]], 1);
  __syncthreads();
  if (threadIdx.x != 0) return;
  int32_t run = 0, kept = 0;
  expert_offsets[0] = 0;
  for (int e = 0; e < E; ++e) {
    start[e] = run;
    run += counts[e];
    kept += counts[e] < capacity ? counts[e] : static_cast<int32_t>(capacity);
    expert_offsets[e + 1] = kept;
  }
}

// Position p of the sorted order (by expert, then gate descending, then slot) is the
// (p - start[e])-th candidate of its expert e, kept when that rank is below the capacity.
__global__ void assign_rows_kernel(int32_t* sorted_slots, int32_t* slot_rows, const int32_t* order,
                                   const int32_t* expert_of, const int32_t* start,
                                   const int32_t* expert_offsets, int64_t count, int64_t capacity) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= count) return;
  const int32_t e = expert_of[p];
  const int64_t rank = p - start[e];
  if (rank >= capacity) return;
  const int32_t row = static_cast<int32_t>(expert_offsets[e] + rank);
  sorted_slots[row] = order[p];
  slot_rows[order[p]] = row;
}

// One block: dropped (1) = the tokens whose k slots all have no row (an integer count, so its
// value does not depend on the order of the atomics).
__global__ void dropped_tokens_kernel(int32_t* dropped, const int32_t* slot_rows, int64_t N,
                                      int64_t k) {
  __shared__ int32_t total;
  if (threadIdx.x == 0) total = 0;
  __syncthreads();
  int32_t mine = 0;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    bool routed = false;
    for (int64_t j = 0; j < k; ++j)
      routed = routed || slot_rows[n * k + j] >= 0;
    mine += routed ? 0 : 1;
  }
  atomicAdd(&total, mine);
  __syncthreads();
  if (threadIdx.x == 0) *dropped = total;
}

int key_bits(int64_t E) {
  int bits = 1;
  while (bits < 31 && (int64_t{1} << bits) < E)
    ++bits;
  return bits;
}

}  // namespace

// Two stable radix sorts (cub::DeviceRadixSort, whose output is fully determined by its input)
// put the slots in the CPU's selection order: first by gate, descending (equal gates keep slot
// order, and +0 and -0 sort as equal, as the CPU compares them), then by expert. Each expert's
// run then starts with its best candidates, and the first `capacity` of it are kept.
void expert_choice_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows,
                        Tensor dropped, const Tensor& topk_idx, const Tensor& gates,
                        int64_t capacity) {
  const int64_t N = topk_idx.size(0), k = topk_idx.size(1), count = N * k;
  const int64_t E = expert_offsets.size(0) - 1;
  MOE_CHECK(E * static_cast<int64_t>(sizeof(int32_t)) <= 48 * 1024, "expert_choice_plan: ", E,
            " experts do not fit the CUDA plan kernel's shared memory");
  const int n = static_cast<int>(count);  // the ops layer keeps slots within int32
  Scratch<int32_t> slots(count), by_gate(count), expert_of(count), sorted_experts(count),
      order(count), start(E);
  Scratch<float> sorted_gates(count);
  slot_iota_kernel<<<blocks_for(count), kThreadsPerBlock>>>(slots.get(), count);
  MOE_CUDA_CHECK_LAUNCH();
  size_t gate_bytes = 0, expert_bytes = 0;
  const int end_bit = key_bits(E);
  MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(
      nullptr, gate_bytes, data<float>(gates), sorted_gates.get(), slots.get(), by_gate.get(), n));
  MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, expert_bytes, expert_of.get(),
                                                 sorted_experts.get(), by_gate.get(), order.get(),
                                                 n, 0, end_bit));
  Scratch<char> temp(std::max(gate_bytes, expert_bytes));
  MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(temp.get(), gate_bytes,
                                                           data<float>(gates), sorted_gates.get(),
                                                           slots.get(), by_gate.get(), n));
  expert_of_kernel<<<blocks_for(count), kThreadsPerBlock>>>(expert_of.get(), by_gate.get(),
                                                            data<int32_t>(topk_idx), count);
  MOE_CUDA_CHECK_LAUNCH();
  MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), expert_bytes, expert_of.get(),
                                                 sorted_experts.get(), by_gate.get(), order.get(),
                                                 n, 0, end_bit));
  offsets_kernel<<<1, kThreadsPerBlock, static_cast<size_t>(E) * sizeof(int32_t)>>>(
      start.get(), data<int32_t>(expert_offsets), data<int32_t>(topk_idx), count,
      static_cast<int>(E), capacity);
  MOE_CUDA_CHECK_LAUNCH();
  // -1 in every int32: the slots no expert keeps, and the rows past the kept ones.
  MOE_CUDA_CHECK(cudaMemsetAsync(sorted_slots.ptr, 0xFF, E * capacity * sizeof(int32_t), 0));
  MOE_CUDA_CHECK(cudaMemsetAsync(slot_rows.ptr, 0xFF, count * sizeof(int32_t), 0));
  assign_rows_kernel<<<blocks_for(count), kThreadsPerBlock>>>(
      data<int32_t>(sorted_slots), data<int32_t>(slot_rows), order.get(), sorted_experts.get(),
      start.get(), data<int32_t>(expert_offsets), count, capacity);
  MOE_CUDA_CHECK_LAUNCH();
  dropped_tokens_kernel<<<1, kThreadsPerBlock>>>(data<int32_t>(dropped), data<int32_t>(slot_rows),
                                                 N, k);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
