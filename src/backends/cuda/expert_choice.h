// CUDA kernel of expert-choice routing's dispatch plan (ops/expert_choice.h), the same plan as
// backends/cpu/expert_choice.h, built on the device.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

// Table entry (backends/backend.h), F32.
void expert_choice_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows,
                        Tensor dropped, const Tensor& topk_idx, const Tensor& gates,
                        int64_t capacity);

}  // namespace moe::cuda
