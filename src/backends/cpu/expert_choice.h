// CPU kernel of expert-choice routing's dispatch plan (ops/expert_choice.h).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entry (backends/backend.h), F32 or F64 gates.
void expert_choice_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows,
                        Tensor dropped, const Tensor& topk_idx, const Tensor& gates,
                        int64_t capacity);

// The kernel, templated on the gates' scalar type. expert_offsets (E+1), sorted_slots
// (E * capacity), slot_rows (N*k), topk_idx (N*k), gates (N*k). Returns the number of tokens no
// expert kept.
template <typename T>
int64_t expert_choice_plan(int32_t* expert_offsets, int32_t* sorted_slots, int32_t* slot_rows,
                           const int32_t* topk_idx, const T* gates, int64_t N, int64_t k, int64_t E,
                           int64_t capacity);

}  // namespace moe::cpu
