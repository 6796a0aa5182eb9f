#include "backends/cpu/expert_choice.h"

#include <algorithm>
#include <vector>

#include "backends/cpu/tensor_data.h"

namespace moe::cpu {

template <typename T>
int64_t expert_choice_plan(int32_t* expert_offsets, int32_t* sorted_slots, int32_t* slot_rows,
                           const int32_t* topk_idx, const T* gates, int64_t N, int64_t k, int64_t E,
                           int64_t capacity) {
  const int64_t slots = N * k;
  // The slots grouped by expert, in slot order (a counting sort), as candidates.
  std::vector<int64_t> start(static_cast<size_t>(E + 1), 0);
  for (int64_t s = 0; s < slots; ++s)
    ++start[static_cast<size_t>(topk_idx[s]) + 1];
  for (int64_t e = 0; e < E; ++e)
    start[e + 1] += start[e];
  std::vector<int32_t> candidates(static_cast<size_t>(slots));
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t s = 0; s < slots; ++s)
    candidates[static_cast<size_t>(fill[topk_idx[s]]++)] = static_cast<int32_t>(s);
  // Each expert's best `capacity` candidates: higher gate first, lower slot first on ties (a
  // strict total order, so the selection is the same whatever the sort's algorithm).
  std::fill(slot_rows, slot_rows + slots, -1);
  std::fill(sorted_slots, sorted_slots + E * capacity, -1);
  expert_offsets[0] = 0;
  for (int64_t e = 0; e < E; ++e) {
    const auto first = candidates.begin() + start[e], last = candidates.begin() + start[e + 1];
    const int64_t kept = std::min<int64_t>(capacity, last - first);
    std::partial_sort(first, first + kept, last, [&](int32_t a, int32_t b) {
      return gates[a] > gates[b] || (gates[a] == gates[b] && a < b);
    });
    for (int64_t r = 0; r < kept; ++r) {
      const int32_t row = static_cast<int32_t>(expert_offsets[e] + r), s = first[r];
      sorted_slots[row] = s;
      slot_rows[s] = row;
    }
    expert_offsets[e + 1] = static_cast<int32_t>(expert_offsets[e] + kept);
  }
  int64_t dropped = 0;
  for (int64_t n = 0; n < N; ++n) {
    const int32_t* rows = slot_rows + n * k;
    dropped += std::all_of(rows, rows + k, [](int32_t r) { return r < 0; });
  }
  return dropped;
}

void expert_choice_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows,
                        Tensor dropped, const Tensor& topk_idx, const Tensor& gates,
                        int64_t capacity) {
  for_dtype(gates.dtype, [&]<typename T>(T) {
    *data<int32_t>(dropped) = static_cast<int32_t>(expert_choice_plan(
        data<int32_t>(expert_offsets), data<int32_t>(sorted_slots), data<int32_t>(slot_rows),
        data<int32_t>(topk_idx), data<T>(gates), topk_idx.size(0), topk_idx.size(1),
        expert_offsets.size(0) - 1, capacity));
  });
}

template int64_t expert_choice_plan<float>(int32_t*, int32_t*, int32_t*, const int32_t*,
                                           const float*, int64_t, int64_t, int64_t, int64_t);
template int64_t expert_choice_plan<double>(int32_t*, int32_t*, int32_t*, const int32_t*,
                                            const double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace moe::cpu
