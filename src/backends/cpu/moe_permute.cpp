#include "backends/cpu/moe_permute.h"

#include <algorithm>

#include "core/check.h"

namespace moe::cpu {

namespace {

// Below this many elements of work a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 14;

// The index buffers normally come from moe_dispatch_plan; a corrupt one would read or write out
// of bounds, so each kernel validates what it uses before any parallel work starts. The checks
// are O(N*k), far below the O(N*k*C) row copies they guard.
int64_t used_rows(const char* op, const int32_t* expert_offsets, int64_t E, int64_t rows) {
  const int64_t M = expert_offsets[E];
  MOE_CHECK(M >= 0 && M <= rows, op, ": expert_offsets[E] = ", M, " is outside [0, ", rows, "]");
  return M;
}

void check_sorted_slots(const char* op, const int32_t* sorted_slots, int64_t M, int64_t slots) {
  for (int64_t r = 0; r < M; ++r)
    MOE_CHECK(sorted_slots[r] >= 0 && sorted_slots[r] < slots, op, ": sorted_slots[", r,
              "] = ", sorted_slots[r], " is not a slot in [0, ", slots, ")");
}

void check_slot_rows(const char* op, const int32_t* slot_rows, int64_t slots) {
  for (int64_t s = 0; s < slots; ++s)
    MOE_CHECK(slot_rows[s] >= -1 && slot_rows[s] < slots, op, ": slot_rows[", s,
              "] = ", slot_rows[s], " is neither -1 nor a row in [0, ", slots, ")");
}

}  // namespace

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
    MOE_CHECK(e >= 0 && e < E, "moe_dispatch_plan: topk_idx[", s, "] = ", e,
              " is not an expert index in [0, ", E, ")");
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
                int64_t N, int64_t C, int64_t k, int64_t E) {
  const int64_t M = used_rows("moe_gather", expert_offsets, E, N * k);
  check_sorted_slots("moe_gather", sorted_slots, M, N * k);
#pragma omp parallel for schedule(static) if (M * C >= kMinParallelWork)
  for (int64_t r = 0; r < M; ++r) {
    const T* src = x + (sorted_slots[r] / k) * C;
    std::copy(src, src + C, xs + r * C);
  }
}

template <typename T>
void moe_gather_backward(T* dx, const T* dxs, const int32_t* slot_rows, int64_t N, int64_t C,
                         int64_t k) {
  check_slot_rows("moe_gather_backward", slot_rows, N * k);
  // One token per iteration, its slots summed in order j = 0..k-1: no shared writes, and the
  // same result for any thread count.
#pragma omp parallel for schedule(static) if (N * k * C >= kMinParallelWork)
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
  check_slot_rows("moe_scatter", slot_rows, N * k);
#pragma omp parallel for schedule(static) if (N * k * C >= kMinParallelWork)
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
  const int64_t M = used_rows("moe_scatter_backward", expert_offsets, E, N * k);
  check_sorted_slots("moe_scatter_backward", sorted_slots, M, N * k);
  check_slot_rows("moe_scatter_backward", slot_rows, N * k);
#pragma omp parallel for schedule(static) if (M * C >= kMinParallelWork)
  for (int64_t r = 0; r < M; ++r) {
    const int32_t s = sorted_slots[r];
    const T g = gates[s];
    const T* src = dy + (s / k) * C;
    T* d = dys + r * C;
    for (int64_t c = 0; c < C; ++c)
      d[c] = g * src[c];
  }
#pragma omp parallel for schedule(static) if (N * k * C >= kMinParallelWork)
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

#define MOE_INSTANTIATE(T)                                                                         \
  template void moe_gather<T>(T*, const T*, const int32_t*, const int32_t*, int64_t, int64_t,      \
                              int64_t, int64_t);                                                   \
  template void moe_gather_backward<T>(T*, const T*, const int32_t*, int64_t, int64_t, int64_t);   \
  template void moe_scatter<T>(T*, const T*, const T*, const int32_t*, int64_t, int64_t, int64_t); \
  template void moe_scatter_backward<T>(T*, T*, const T*, const T*, const T*, const int32_t*,      \
                                        const int32_t*, const int32_t*, int64_t, int64_t, int64_t, \
                                        int64_t);
MOE_INSTANTIATE(float)
MOE_INSTANTIATE(double)
#undef MOE_INSTANTIATE

}  // namespace moe::cpu
