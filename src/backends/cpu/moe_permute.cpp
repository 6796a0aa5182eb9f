#include "backends/cpu/moe_permute.h"

#include <algorithm>

#include "backends/cpu/parallel.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {

int64_t moe_dispatch_plan(int32_t* expert_offsets, int32_t* sorted_slots, int32_t* slot_rows,
                          const int32_t* topk_idx, int64_t N, int64_t k, int64_t E,
                          int64_t capacity) {
  const int64_t slots = N * k;
  // Counting sort (one sequential pass: the capacity rule depends on the order of earlier tokens
  // anyway, and the pass is O(N*k)). First pass: the position of each slot within its expert,
  // counted in expert_offsets[e + 1]; slots beyond the capacity are dropped.
  std::fill(expert_offsets, expert_offsets + E + 1, 0);
  int64_t dropped = 0;
  for (int64_t s = 0; s < slots; ++s) {
    const int32_t e = topk_idx[s];
    if (capacity > 0 && expert_offsets[e + 1] >= capacity) {
      slot_rows[s] = -1;
      ++dropped;
    } else {
      slot_rows[s] = expert_offsets[e + 1]++;
    }
  }
  for (int64_t e = 0; e < E; ++e)
    expert_offsets[e + 1] += expert_offsets[e];
  // Second pass: positions become rows, and each row records its slot.
  std::fill(sorted_slots, sorted_slots + slots, -1);
  for (int64_t s = 0; s < slots; ++s) {
    if (slot_rows[s] < 0) continue;
    slot_rows[s] += expert_offsets[topk_idx[s]];
    sorted_slots[slot_rows[s]] = static_cast<int32_t>(s);
  }
  return dropped;
}

template <typename T>
void moe_gather(T* xs, const T* x, const int32_t* sorted_slots, const int32_t* expert_offsets,
                int64_t C, int64_t k, int64_t E) {
  const int64_t M = expert_offsets[E];
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
  for (int64_t r = 0; r < M; ++r) {
    const T* src = x + (sorted_slots[r] / k) * C;
    std::copy(src, src + C, xs + r * C);
  }
}

template <typename T>
void moe_gather_backward(T* dx, const T* dxs, const int32_t* slot_rows, int64_t N, int64_t C,
                         int64_t k) {
  // One token per iteration, its slots summed in order j = 0..k-1: no shared writes, and the
  // same result for any thread count.
#pragma omp parallel for schedule(static) if (N * k * C > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    T* d = dx + n * C;
    std::fill(d, d + C, T(0));
    for (int64_t j = 0; j < k; ++j) {
      const int32_t r = slot_rows[n * k + j];
      if (r < 0) continue;
      const T* src = dxs + r * C;
      for (int64_t c = 0; c < C; ++c)
        d[c] += src[c];
    }
  }
}

template <typename T>
void moe_scatter(T* y, const T* ys, const T* gates, const int32_t* slot_rows, int64_t N, int64_t C,
                 int64_t k) {
#pragma omp parallel for schedule(static) if (N * k * C > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    T* out = y + n * C;
    std::fill(out, out + C, T(0));
    for (int64_t j = 0; j < k; ++j) {
      const int32_t r = slot_rows[n * k + j];
      if (r < 0) continue;
      const T g = gates[n * k + j];
      const T* src = ys + r * C;
      for (int64_t c = 0; c < C; ++c)
        out[c] += g * src[c];
    }
  }
}

template <typename T>
void moe_scatter_backward(T* dys, T* dgates, const T* dy, const T* ys, const T* gates,
                          const int32_t* slot_rows, const int32_t* sorted_slots,
                          const int32_t* expert_offsets, int64_t N, int64_t C, int64_t k,
                          int64_t E) {
  const int64_t M = expert_offsets[E];
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
  for (int64_t r = 0; r < M; ++r) {
    const int32_t s = sorted_slots[r];
    const T g = gates[s];
    const T* src = dy + (s / k) * C;
    T* d = dys + r * C;
    for (int64_t c = 0; c < C; ++c)
      d[c] = g * src[c];
  }
#pragma omp parallel for schedule(static) if (N * k * C > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const T* d = dy + n * C;
    for (int64_t j = 0; j < k; ++j) {
      const int32_t r = slot_rows[n * k + j];
      T dot = T(0);
      if (r >= 0) {
        const T* src = ys + r * C;
        for (int64_t c = 0; c < C; ++c)
          dot += d[c] * src[c];
      }
      dgates[n * k + j] = dot;
    }
  }
}

void moe_dispatch_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows, Tensor dropped,
                       const Tensor& topk_idx, int64_t capacity) {
  *data<int32_t>(dropped) = static_cast<int32_t>(
      moe_dispatch_plan(data<int32_t>(expert_offsets), data<int32_t>(sorted_slots),
                        data<int32_t>(slot_rows), data<int32_t>(topk_idx), topk_idx.size(0),
                        topk_idx.size(1), expert_offsets.size(0) - 1, capacity));
}

void moe_gather(Tensor xs, const Tensor& x, const Tensor& sorted_slots,
                const Tensor& expert_offsets, int64_t top_k) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    moe_gather(data<T>(xs), data<T>(x), data<int32_t>(sorted_slots), data<int32_t>(expert_offsets),
               x.size(1), top_k, expert_offsets.size(0) - 1);
  });
}

void moe_gather_backward(Tensor dx, const Tensor& dxs, const Tensor& slot_rows, int64_t top_k) {
  for_dtype(dx.dtype, [&]<typename T>(T) {
    moe_gather_backward(data<T>(dx), data<T>(dxs), data<int32_t>(slot_rows), dx.size(0), dx.size(1),
                        top_k);
  });
}

void moe_scatter(Tensor y, const Tensor& ys, const Tensor& gates, const Tensor& slot_rows) {
  for_dtype(y.dtype, [&]<typename T>(T) {
    moe_scatter(data<T>(y), data<T>(ys), data<T>(gates), data<int32_t>(slot_rows), y.size(0),
                y.size(1), gates.size(1));
  });
}

void moe_scatter_backward(Tensor dys, Tensor dgates, const Tensor& dy, const Tensor& ys,
                          const Tensor& gates, const Tensor& slot_rows, const Tensor& sorted_slots,
                          const Tensor& expert_offsets) {
  for_dtype(dy.dtype, [&]<typename T>(T) {
    moe_scatter_backward(data<T>(dys), data<T>(dgates), data<T>(dy), data<T>(ys), data<T>(gates),
                         data<int32_t>(slot_rows), data<int32_t>(sorted_slots),
                         data<int32_t>(expert_offsets), dy.size(0), dy.size(1), gates.size(1),
                         expert_offsets.size(0) - 1);
  });
}

#define MOE_INSTANTIATE(T)                                                                         \
  template void moe_gather<T>(T*, const T*, const int32_t*, const int32_t*, int64_t, int64_t,      \
                              int64_t);                                                            \
  template void moe_gather_backward<T>(T*, const T*, const int32_t*, int64_t, int64_t, int64_t);   \
  template void moe_scatter<T>(T*, const T*, const T*, const int32_t*, int64_t, int64_t, int64_t); \
  template void moe_scatter_backward<T>(T*, T*, const T*, const T*, const T*, const int32_t*,      \
                                        const int32_t*, const int32_t*, int64_t, int64_t, int64_t, \
                                        int64_t);
MOE_INSTANTIATE(float)
MOE_INSTANTIATE(double)
#undef MOE_INSTANTIATE

}  // namespace moe::cpu
