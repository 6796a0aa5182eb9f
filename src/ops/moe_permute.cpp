#include "ops/moe_permute.h"

#include <limits>

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

// expert_offsets is (E+1) I32 and partitions (the first of) the `rows` rows of the
// expert-ordered buffers; returns E.
int64_t check_offsets(const char* op, const Backend& backend, const Tensor& expert_offsets,
                      int64_t rows) {
  MOE_CHECK(expert_offsets.shape.ndim == 1 && expert_offsets.size(0) >= 2, op,
            ": expert_offsets must be (E+1) with E >= 1, got ", expert_offsets.shape.str());
  check_dtype(op, "expert_offsets", expert_offsets, DType::I32);
  check_expert_offsets(op, backend, expert_offsets, rows);
  return expert_offsets.size(0) - 1;
}

// sorted_slots (rows) I32: its first M = expert_offsets[E] rows name slots in [0, slots). Read
// only after check_offsets.
void check_sorted_slots(const char* op, const Backend& backend, const Tensor& sorted_slots,
                        const Tensor& expert_offsets, int64_t rows, int64_t slots) {
  check_shape(op, "sorted_slots", sorted_slots, {rows});
  check_dtype(op, "sorted_slots", sorted_slots, DType::I32);
  if (!backend.host_memory) return;
  const int64_t M = expert_offsets.i32()[expert_offsets.numel() - 1];
  check_index_range(op, backend, "sorted_slots", sorted_slots.rows(0, M), 0, slots, "a slot");
}

// slot_rows (slots) I32: each slot's row in [0, rows), or -1 when it was dropped.
void check_slot_rows(const char* op, const Backend& backend, const Tensor& slot_rows, int64_t slots,
                     int64_t rows) {
  check_shape(op, "slot_rows", slot_rows, {slots});
  check_dtype(op, "slot_rows", slot_rows, DType::I32);
  check_index_range(op, backend, "slot_rows", slot_rows, -1, rows,
                    "a row, or -1 for a dropped slot,");
}

}  // namespace

void moe_dispatch_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows, Tensor dropped,
                       const Tensor& topk_idx, int64_t n_experts, int64_t capacity) {
  const char* op = "moe_dispatch_plan";
  const Backend& backend =
      backend_for(op, {&expert_offsets, &sorted_slots, &slot_rows, &dropped, &topk_idx});
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
  check_dtype(op, "dropped", dropped, DType::I32);
  check_shape(op, "dropped", dropped, {1});
  check_index_range(op, backend, "topk_idx", topk_idx, 0, n_experts, "an expert index");
  backend.dispatch.moe_dispatch_plan(expert_offsets, sorted_slots, slot_rows, dropped, topk_idx,
                                     capacity);
}

void moe_gather(Tensor xs, const Tensor& x, const Tensor& sorted_slots,
                const Tensor& expert_offsets, int64_t top_k) {
  const char* op = "moe_gather";
  const Backend& backend = backend_for(op, {&xs, &x, &sorted_slots, &expert_offsets});
  check_2d(op, "x", x);
  MOE_CHECK(top_k >= 1, op, ": top_k = ", top_k, " must be positive");
  check_2d(op, "xs", xs);
  const int64_t N = x.size(0), C = x.size(1), slots = N * top_k, rows = xs.size(0);
  check_slot_count(op, slots);
  check_shape(op, "xs", xs, {rows, C});
  check_dtype(op, "xs", xs, float_dtype(op, backend, "x", x));
  check_offsets(op, backend, expert_offsets, rows);
  check_sorted_slots(op, backend, sorted_slots, expert_offsets, rows, slots);
  backend.dispatch.moe_gather(xs, x, sorted_slots, expert_offsets, top_k);
}

void moe_gather_backward(Tensor dx, const Tensor& dxs, const Tensor& slot_rows, int64_t top_k) {
  const char* op = "moe_gather_backward";
  const Backend& backend = backend_for(op, {&dx, &dxs, &slot_rows});
  check_2d(op, "dx", dx);
  MOE_CHECK(top_k >= 1, op, ": top_k = ", top_k, " must be positive");
  check_2d(op, "dxs", dxs);
  const int64_t N = dx.size(0), C = dx.size(1), slots = N * top_k, rows = dxs.size(0);
  check_slot_count(op, slots);
  check_shape(op, "dxs", dxs, {rows, C});
  check_dtype(op, "dxs", dxs, float_dtype(op, backend, "dx", dx));
  check_slot_rows(op, backend, slot_rows, slots, rows);
  backend.dispatch.moe_gather_backward(dx, dxs, slot_rows, top_k);
}

void moe_scatter(Tensor y, const Tensor& ys, const Tensor& gates, const Tensor& slot_rows) {
  const char* op = "moe_scatter";
  const Backend& backend = backend_for(op, {&y, &ys, &gates, &slot_rows});
  check_2d(op, "y", y);
  check_2d(op, "gates", gates);
  check_2d(op, "ys", ys);
  const int64_t N = y.size(0), C = y.size(1), k = gates.size(1), rows = ys.size(0);
  MOE_CHECK(k >= 1, op, ": gates must have at least one column");
  check_slot_count(op, N * k);
  check_shape(op, "gates", gates, {N, k});
  check_shape(op, "ys", ys, {rows, C});
  const DType dtype = float_dtype(op, backend, "y", y);
  check_dtype(op, "ys", ys, dtype);
  check_dtype(op, "gates", gates, dtype);
  check_slot_rows(op, backend, slot_rows, N * k, rows);
  backend.dispatch.moe_scatter(y, ys, gates, slot_rows);
}

void moe_scatter_backward(Tensor dys, Tensor dgates, const Tensor& dy, const Tensor& ys,
                          const Tensor& gates, const Tensor& slot_rows, const Tensor& sorted_slots,
                          const Tensor& expert_offsets) {
  const char* op = "moe_scatter_backward";
  const Backend& backend = backend_for(
      op, {&dys, &dgates, &dy, &ys, &gates, &slot_rows, &sorted_slots, &expert_offsets});
  check_2d(op, "dy", dy);
  check_2d(op, "gates", gates);
  check_2d(op, "dys", dys);
  const int64_t N = dy.size(0), C = dy.size(1), k = gates.size(1), rows = dys.size(0);
  MOE_CHECK(k >= 1, op, ": gates must have at least one column");
  check_slot_count(op, N * k);
  check_shape(op, "gates", gates, {N, k});
  check_shape(op, "dgates", dgates, {N, k});
  check_shape(op, "dys", dys, {rows, C});
  check_shape(op, "ys", ys, {rows, C});
  const DType dtype = float_dtype(op, backend, "dy", dy);
  check_dtype(op, "dys", dys, dtype);
  check_dtype(op, "dgates", dgates, dtype);
  check_dtype(op, "ys", ys, dtype);
  check_dtype(op, "gates", gates, dtype);
  check_offsets(op, backend, expert_offsets, rows);
  check_sorted_slots(op, backend, sorted_slots, expert_offsets, rows, N * k);
  check_slot_rows(op, backend, slot_rows, N * k, rows);
  backend.dispatch.moe_scatter_backward(dys, dgates, dy, ys, gates, slot_rows, sorted_slots,
                                        expert_offsets);
}

}  // namespace moe::ops
