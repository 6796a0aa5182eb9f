// CPU kernels for sparse MoE dispatch (see ops/moe_permute.h for the layout). Expert indices,
// offsets, slots and rows are in range, as the ops layer checked (or the plan made them).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void moe_dispatch_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows, Tensor dropped,
                       const Tensor& topk_idx, int64_t capacity);
void moe_gather(Tensor xs, const Tensor& x, const Tensor& sorted_slots,
                const Tensor& expert_offsets, int64_t top_k);
void moe_gather_backward(Tensor dx, const Tensor& dxs, const Tensor& slot_rows, int64_t top_k);
void moe_scatter(Tensor y, const Tensor& ys, const Tensor& gates, const Tensor& slot_rows);
void moe_scatter_backward(Tensor dys, Tensor dgates, const Tensor& dy, const Tensor& ys,
                          const Tensor& gates, const Tensor& slot_rows, const Tensor& sorted_slots,
                          const Tensor& expert_offsets);

// The kernels, templated on the scalar type.

// expert_offsets (E+1), sorted_slots (N*k), slot_rows (N*k), topk_idx (N*k). Returns the number
// of dropped assignments.
int64_t moe_dispatch_plan(int32_t* expert_offsets, int32_t* sorted_slots, int32_t* slot_rows,
                          const int32_t* topk_idx, int64_t N, int64_t k, int64_t E,
                          int64_t capacity);

// xs (N*k, C), x (N, C), sorted_slots (N*k), expert_offsets (E+1); rows [0, off[E]) are written.
template <typename T>
void moe_gather(T* xs, const T* x, const int32_t* sorted_slots, const int32_t* expert_offsets,
                int64_t C, int64_t k, int64_t E);

// dx (N, C), dxs (N*k, C), slot_rows (N*k).
template <typename T>
void moe_gather_backward(T* dx, const T* dxs, const int32_t* slot_rows, int64_t N, int64_t C,
                         int64_t k);

// y (N, C), ys (N*k, C), gates (N, k), slot_rows (N*k).
template <typename T>
void moe_scatter(T* y, const T* ys, const T* gates, const int32_t* slot_rows, int64_t N, int64_t C,
                 int64_t k);

// dys (N*k, C), dgates (N, k), dy (N, C), ys (N*k, C), gates (N, k), slot_rows (N*k),
// sorted_slots (N*k), expert_offsets (E+1).
template <typename T>
void moe_scatter_backward(T* dys, T* dgates, const T* dy, const T* ys, const T* gates,
                          const int32_t* slot_rows, const int32_t* sorted_slots,
                          const int32_t* expert_offsets, int64_t N, int64_t C, int64_t k,
                          int64_t E);

}  // namespace moe::cpu
