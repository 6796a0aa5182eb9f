// CUDA kernels for sparse MoE dispatch (see ops/moe_permute.h for the layout), the same results
// as backends/cpu/moe_permute.h. The plan is built on the device, so the offsets, slots and rows
// it makes never pass through the host.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32.
void moe_dispatch_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows, Tensor dropped,
                       const Tensor& topk_idx, int64_t capacity);
void moe_gather(Tensor xs, const Tensor& x, const Tensor& sorted_slots,
                const Tensor& expert_offsets, int64_t top_k);
void moe_gather_backward(Tensor dx, const Tensor& dxs, const Tensor& slot_rows, int64_t top_k);
void moe_scatter(Tensor y, const Tensor& ys, const Tensor& gates, const Tensor& slot_rows);
void moe_scatter_backward(Tensor dys, Tensor dgates, const Tensor& dy, const Tensor& ys,
                          const Tensor& gates, const Tensor& slot_rows, const Tensor& sorted_slots,
                          const Tensor& expert_offsets);

}  // namespace moe::cuda
