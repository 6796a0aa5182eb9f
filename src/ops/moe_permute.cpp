#include "ops/moe_permute.h"

#include <limits>

#include "backends/cpu/moe_permute.h"
#include "ops/dispatch.h"

namespace moe::ops {

namespace {

void check_2d(const char* op, const char* arg, const Tensor& t) {
  MOE_CHECK(t.shape.ndim == 2, op, ": ", arg, " must be 2-D, got ", t.shape.str());
}

// Slots and rows are stored as int32.
void check_slot_count(const char* op, int64_t slots) {
  MOE_CHECK(slots <= std::numeric_limits<int32_t>::max(), op, ": N*k = ", slots,
            " assignments do not fit the int32 slot indices");
}

// expert_offsets is (E+1) I32; returns E.
int64_t check_offsets(const char* op, const Tensor& expert_offsets) {
  MOE_CHECK(expert_offsets.shape.ndim == 1 && expert_offsets.size(0) >= 2, op,
            ": expert_offsets must be (E+1) with E >= 1, got ", expert_offsets.shape.str());
  check_dtype(op, "expert_offsets", expert_offsets, DType::I32);
  return expert_offsets.size(0) - 1;
}

}  // namespace

int64_t moe_dispatch_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows,
                          const Tensor& topk_idx, int64_t n_experts, int64_t capacity) {
  const char* op = "moe_dispatch_plan";
  check_2d(op, "topk_idx", topk_idx);
  MOE_CHECK(n_experts >= 1, op, ": n_experts = ", n_experts, " must be positive");
  const int64_t N = topk_idx.size(0), k = topk_idx.size(1);
  check_slot_count(op, N * k);
  check_shape(op, "expert_offsets", expert_offsets, {n_experts + 1});
  check_shape(op, "sorted_slots", sorted_slots, {N * k});
  check_shape(op, "slot_rows", slot_rows, {N * k});
  check_dtype(op, "expert_offsets", expert_offsets, DType::I32);
  check_dtype(op, "sorted_slots", sorted_slots, DType::I32);
  check_dtype(op, "slot_rows", slot_rows, DType::I32);
  check_dtype(op, "topk_idx", topk_idx, DType::I32);
  switch (common_device(op, {&expert_offsets, &sorted_slots, &slot_rows, &topk_idx})) {
    case Device::CPU:
      return cpu::moe_dispatch_plan(expert_offsets.i32(), sorted_slots.i32(), slot_rows.i32(),
                                    topk_idx.i32(), N, k, n_experts, capacity);
    case Device::CUDA:
      cuda_unavailable(op);
  }
  return 0;
}

void moe_gather(Tensor xs, const Tensor& x, const Tensor& sorted_slots,
                const Tensor& expert_offsets, int64_t top_k) {
  const char* op = "moe_gather";
  check_2d(op, "x", x);
  MOE_CHECK(top_k >= 1, op, ": top_k = ", top_k, " must be positive");
  const int64_t N = x.size(0), C = x.size(1), E = check_offsets(op, expert_offsets);
  check_slot_count(op, N * top_k);
  check_shape(op, "xs", xs, {N * top_k, C});
  check_shape(op, "sorted_slots", sorted_slots, {N * top_k});
  check_dtype(op, "xs", xs, DType::F32);
  check_dtype(op, "x", x, DType::F32);
  check_dtype(op, "sorted_slots", sorted_slots, DType::I32);
  switch (common_device(op, {&xs, &x, &sorted_slots, &expert_offsets})) {
    case Device::CPU:
      cpu::moe_gather<float>(xs.f32(), x.f32(), sorted_slots.i32(), expert_offsets.i32(), N, C,
                             top_k, E);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void moe_gather_backward(Tensor dx, const Tensor& dxs, const Tensor& slot_rows, int64_t top_k) {
  const char* op = "moe_gather_backward";
  check_2d(op, "dx", dx);
  MOE_CHECK(top_k >= 1, op, ": top_k = ", top_k, " must be positive");
  const int64_t N = dx.size(0), C = dx.size(1);
  check_slot_count(op, N * top_k);
  check_shape(op, "dxs", dxs, {N * top_k, C});
  check_shape(op, "slot_rows", slot_rows, {N * top_k});
  check_dtype(op, "dx", dx, DType::F32);
  check_dtype(op, "dxs", dxs, DType::F32);
  check_dtype(op, "slot_rows", slot_rows, DType::I32);
  switch (common_device(op, {&dx, &dxs, &slot_rows})) {
    case Device::CPU:
      cpu::moe_gather_backward<float>(dx.f32(), dxs.f32(), slot_rows.i32(), N, C, top_k);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void moe_scatter(Tensor y, const Tensor& ys, const Tensor& gates, const Tensor& slot_rows) {
  const char* op = "moe_scatter";
  check_2d(op, "y", y);
  check_2d(op, "gates", gates);
  const int64_t N = y.size(0), C = y.size(1), k = gates.size(1);
  MOE_CHECK(k >= 1, op, ": gates must have at least one column");
  check_slot_count(op, N * k);
  check_shape(op, "gates", gates, {N, k});
  check_shape(op, "ys", ys, {N * k, C});
  check_shape(op, "slot_rows", slot_rows, {N * k});
  check_dtype(op, "y", y, DType::F32);
  check_dtype(op, "ys", ys, DType::F32);
  check_dtype(op, "gates", gates, DType::F32);
  check_dtype(op, "slot_rows", slot_rows, DType::I32);
  switch (common_device(op, {&y, &ys, &gates, &slot_rows})) {
    case Device::CPU:
      cpu::moe_scatter<float>(y.f32(), ys.f32(), gates.f32(), slot_rows.i32(), N, C, k);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void moe_scatter_backward(Tensor dys, Tensor dgates, const Tensor& dy, const Tensor& ys,
                          const Tensor& gates, const Tensor& slot_rows, const Tensor& sorted_slots,
                          const Tensor& expert_offsets) {
  const char* op = "moe_scatter_backward";
  check_2d(op, "dy", dy);
  check_2d(op, "gates", gates);
  const int64_t N = dy.size(0), C = dy.size(1), k = gates.size(1);
  const int64_t E = check_offsets(op, expert_offsets);
  MOE_CHECK(k >= 1, op, ": gates must have at least one column");
  check_slot_count(op, N * k);
  check_shape(op, "gates", gates, {N, k});
  check_shape(op, "dgates", dgates, {N, k});
  check_shape(op, "dys", dys, {N * k, C});
  check_shape(op, "ys", ys, {N * k, C});
  check_shape(op, "slot_rows", slot_rows, {N * k});
  check_shape(op, "sorted_slots", sorted_slots, {N * k});
  check_dtype(op, "dys", dys, DType::F32);
  check_dtype(op, "dgates", dgates, DType::F32);
  check_dtype(op, "dy", dy, DType::F32);
  check_dtype(op, "ys", ys, DType::F32);
  check_dtype(op, "gates", gates, DType::F32);
  check_dtype(op, "slot_rows", slot_rows, DType::I32);
  check_dtype(op, "sorted_slots", sorted_slots, DType::I32);
  switch (common_device(
      op, {&dys, &dgates, &dy, &ys, &gates, &slot_rows, &sorted_slots, &expert_offsets})) {
    case Device::CPU:
      cpu::moe_scatter_backward<float>(dys.f32(), dgates.f32(), dy.f32(), ys.f32(), gates.f32(),
                                       slot_rows.i32(), sorted_slots.i32(), expert_offsets.i32(), N,
                                       C, k, E);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
