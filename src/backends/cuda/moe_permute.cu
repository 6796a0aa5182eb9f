#include "backends/cuda/moe_permute.h"

#include <algorithm>

#include "backends/cuda/check.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// The plan's block keeps (2E + 1) + warps * E counters in shared memory; it uses as many warps
// (at most 32) as fit in the 48 KiB every device gives a block without opting in.
constexpr int kMaxPlanWarps = 32;
constexpr int64_t kPlanSharedInts = 48 * 1024 / sizeof(int32_t);

// The whole plan in one block (a counting sort; the sizes we train with have at most a few
// hundred thousand slots, a few microseconds of work per thousand). Pass 1 counts each expert's
// slots (integer atomics: the counts do not depend on their order) and turns the counts, clipped
// to the capacity, into offsets. Pass 2 walks the slots in chunks of blockDim in slot order and
// gives each slot its rank among the earlier slots of its expert: the expert's count of earlier
// chunks, plus its count in earlier warps of the chunk, plus its rank among its warp's lanes
// with the same expert (__match_any_sync). A slot is kept when its rank is below the capacity,
// exactly as the CPU's sequential pass keeps the first `capacity` assignments of each expert.
// expert_offsets (E+1), sorted_slots (slots), slot_rows (slots), dropped (1), topk_idx (slots).
__global__ void dispatch_plan_kernel(int32_t* expert_offsets, int32_t* sorted_slots,
                                     int32_t* slot_rows, int32_t* dropped, const int32_t* topk_idx,
                                     int64_t slots, int E, int64_t capacity) {
  extern __shared__ int32_t shared[];
  int32_t* offsets = shared;          // (E+1)
  int32_t* counts = offsets + E + 1;  // (E) slots per expert, then per earlier chunks
  int32_t* warp_counts = counts + E;  // (warps, E) of the current chunk
  const int tid = threadIdx.x, lane = tid % kWarpSize, warp = tid / kWarpSize;
  const int warps = blockDim.x / kWarpSize;

  for (int e = tid; e < E; e += blockDim.x)
    counts[e] = 0;
  __syncthreads();
  for (int64_t s = tid; s < slots; s += blockDim.x) {
    atomicAdd(&counts[topk_idx[s]], 1);
    sorted_slots[s] = -1;  // rows past the kept ones stay -1
  }
  __syncthreads();
  if (tid == 0) {
    int32_t offset = 0, over = 0;
    for (int e = 0; e < E; ++e) {
      offsets[e] = offset;
      const int32_t kept =
          capacity > 0 && counts[e] > capacity ? static_cast<int32_t>(capacity) : counts[e];
      offset += kept;
      over += counts[e] - kept;
    }
    offsets[E] = offset;
    *dropped = over;
  }
  __syncthreads();
  for (int e = tid; e <= E; e += blockDim.x) {
    expert_offsets[e] = offsets[e];
    if (e < E) counts[e] = 0;
  }
  __syncthreads();

  for (int64_t chunk = 0; chunk < slots; chunk += blockDim.x) {
    const int64_t s = chunk + tid;
    const int32_t e = s < slots ? topk_idx[s] : -1;
    const unsigned peers = __match_any_sync(kFullWarp, e);
    for (int i = tid; i < warps * E; i += blockDim.x)
      warp_counts[i] = 0;
    __syncthreads();
    if (e >= 0 && lane == __ffs(peers) - 1) warp_counts[warp * E + e] = __popc(peers);
    __syncthreads();
    if (e >= 0) {
      int32_t rank = counts[e] + __popc(peers & ((1u << lane) - 1u));
      for (int w = 0; w < warp; ++w)
        rank += warp_counts[w * E + e];
      if (capacity > 0 && rank >= capacity) {
        slot_rows[s] = -1;
      } else {
        const int32_t row = offsets[e] + rank;
        slot_rows[s] = row;
        sorted_slots[row] = static_cast<int32_t>(s);
      }
    }
    __syncthreads();
    for (int e2 = tid; e2 < E; e2 += blockDim.x)
      for (int w = 0; w < warps; ++w)
        counts[e2] += warp_counts[w * E + e2];
    __syncthreads();
  }
}

// One thread per element of xs (N*k, C); rows at or past off[E] are left alone.
// xs (N*k, C), x (N, C), sorted_slots (N*k), expert_offsets (E+1).
__global__ void gather_kernel(float* xs, const float* x, const int32_t* sorted_slots,
                              const int32_t* expert_offsets, int64_t rows, int64_t C, int64_t k,
                              int E) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * C) return;
  const int64_t r = i / C;
  if (r >= expert_offsets[E]) return;
  xs[i] = x[(sorted_slots[r] / k) * C + i % C];
}

// One thread per element of dx (N, C), its token's slots summed in order j = 0..k-1.
// dx (N, C), dxs (N*k, C), slot_rows (N*k).
__global__ void gather_backward_kernel(float* dx, const float* dxs, const int32_t* slot_rows,
                                       int64_t N, int64_t C, int64_t k) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= N * C) return;
  const int64_t n = i / C, c = i % C;
  float sum = 0.0f;
  for (int64_t j = 0; j < k; ++j) {
    const int32_t r = slot_rows[n * k + j];
    if (r >= 0) sum += dxs[r * C + c];
  }
  dx[i] = sum;
}

// One thread per element of y (N, C), its token's slots summed in order j = 0..k-1 (no atomics:
// each output element has one writer).
// y (N, C), ys (N*k, C), gates (N, k), slot_rows (N*k).
__global__ void scatter_kernel(float* y, const float* ys, const float* gates,
                               const int32_t* slot_rows, int64_t N, int64_t C, int64_t k) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= N * C) return;
  const int64_t n = i / C, c = i % C;
  float sum = 0.0f;
  for (int64_t j = 0; j < k; ++j) {
    const int32_t r = slot_rows[n * k + j];
    if (r >= 0) sum += gates[n * k + j] * ys[r * C + c];
  }
  y[i] = sum;
}

// One thread per element of dys (N*k, C); rows at or past off[E] are left alone.
// dys (N*k, C), dy (N, C), gates (N*k), sorted_slots (N*k), expert_offsets (E+1).
__global__ void scatter_backward_rows_kernel(float* dys, const float* dy, const float* gates,
                                             const int32_t* sorted_slots,
                                             const int32_t* expert_offsets, int64_t rows, int64_t C,
                                             int64_t k, int E) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * C) return;
  const int64_t r = i / C;
  if (r >= expert_offsets[E]) return;
  const int32_t s = sorted_slots[r];
  dys[i] = gates[s] * dy[(s / k) * C + i % C];
}

// One warp per slot: lane l sums channels l, l + 32, ... in order, then the lanes' sums meet in
// warp_sum's fixed tree, so the result does not depend on scheduling.
// dgates (N*k), dy (N, C), ys (N*k, C), slot_rows (N*k).
__global__ void scatter_backward_gates_kernel(float* dgates, const float* dy, const float* ys,
                                              const int32_t* slot_rows, int64_t slots, int64_t C,
                                              int64_t k) {
  const int64_t slot = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (slot >= slots) return;  // whole warps leave together
  const int32_t r = slot_rows[slot];
  float dot = 0.0f;
  if (r >= 0) {
    const float* d = dy + (slot / k) * C;
    const float* src = ys + r * C;
    for (int64_t c = lane; c < C; c += kWarpSize)
      dot += d[c] * src[c];
  }
  dot = warp_sum(dot);
  if (lane == 0) dgates[slot] = dot;
}

}  // namespace

void moe_dispatch_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows, Tensor dropped,
                       const Tensor& topk_idx, int64_t capacity) {
  const int64_t E = expert_offsets.size(0) - 1;
  const int64_t warps = std::min<int64_t>(kMaxPlanWarps, (kPlanSharedInts - (2 * E + 1)) / E);
  MOE_CHECK(warps >= 1, "moe_dispatch_plan: ", E,
            " experts do not fit the CUDA plan kernel's shared memory");
  const size_t shared = static_cast<size_t>((2 * E + 1) + warps * E) * sizeof(int32_t);
  dispatch_plan_kernel<<<1, static_cast<unsigned>(warps * kWarpSize), shared>>>(
      data<int32_t>(expert_offsets), data<int32_t>(sorted_slots), data<int32_t>(slot_rows),
      data<int32_t>(dropped), data<int32_t>(topk_idx), topk_idx.numel(), static_cast<int>(E),
      capacity);
  MOE_CUDA_CHECK_LAUNCH();
}

void moe_gather(Tensor xs, const Tensor& x, const Tensor& sorted_slots,
                const Tensor& expert_offsets, int64_t top_k) {
  const int64_t rows = xs.size(0), C = x.size(1);
  gather_kernel<<<blocks_for(rows * C), kThreadsPerBlock>>>(
      data<float>(xs), data<float>(x), data<int32_t>(sorted_slots), data<int32_t>(expert_offsets),
      rows, C, top_k, static_cast<int>(expert_offsets.size(0) - 1));
  MOE_CUDA_CHECK_LAUNCH();
}

void moe_gather_backward(Tensor dx, const Tensor& dxs, const Tensor& slot_rows, int64_t top_k) {
  const int64_t N = dx.size(0), C = dx.size(1);
  gather_backward_kernel<<<blocks_for(N * C), kThreadsPerBlock>>>(
      data<float>(dx), data<float>(dxs), data<int32_t>(slot_rows), N, C, top_k);
  MOE_CUDA_CHECK_LAUNCH();
}

void moe_scatter(Tensor y, const Tensor& ys, const Tensor& gates, const Tensor& slot_rows) {
  const int64_t N = y.size(0), C = y.size(1);
  scatter_kernel<<<blocks_for(N * C), kThreadsPerBlock>>>(
      data<float>(y), data<float>(ys), data<float>(gates), data<int32_t>(slot_rows), N, C,
      gates.size(1));
  MOE_CUDA_CHECK_LAUNCH();
}

void moe_scatter_backward(Tensor dys, Tensor dgates, const Tensor& dy, const Tensor& ys,
                          const Tensor& gates, const Tensor& slot_rows, const Tensor& sorted_slots,
                          const Tensor& expert_offsets) {
  const int64_t rows = dys.size(0), C = dy.size(1), k = gates.size(1), slots = gates.numel();
  scatter_backward_rows_kernel<<<blocks_for(rows * C), kThreadsPerBlock>>>(
      data<float>(dys), data<float>(dy), data<float>(gates), data<int32_t>(sorted_slots),
      data<int32_t>(expert_offsets), rows, C, k, static_cast<int>(expert_offsets.size(0) - 1));
  MOE_CUDA_CHECK_LAUNCH();
  scatter_backward_gates_kernel<<<blocks_for(slots * kWarpSize), kThreadsPerBlock>>>(
      data<float>(dgates), data<float>(dy), data<float>(ys), data<int32_t>(slot_rows), slots, C, k);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
