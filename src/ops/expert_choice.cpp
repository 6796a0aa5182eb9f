#include "ops/expert_choice.h"

#include <algorithm>
#include <limits>

#include "ops/dispatch.h"

namespace moe::ops {

int64_t expert_choice_capacity(int64_t n_tokens, int64_t n_experts, int64_t experts_per_token) {
  MOE_CHECK(n_tokens >= 1 && n_experts >= 1 && experts_per_token >= 1,
            "expert_choice_capacity: tokens, experts and experts per token must be positive");
  // round(n c / E) half up, in integers: floor((2 n c + E) / (2 E)).
  const int64_t c = (2 * n_tokens * experts_per_token + n_experts) / (2 * n_experts);
  return std::clamp<int64_t>(c, 1, n_tokens);
}

void expert_choice_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows,
                        Tensor dropped, const Tensor& topk_idx, const Tensor& gates,
                        int64_t n_experts, int64_t capacity) {
  const char* op = "expert_choice_plan";
  const Backend& backend =
      backend_for(op, {&expert_offsets, &sorted_slots, &slot_rows, &dropped, &topk_idx, &gates});
  MOE_CHECK(topk_idx.shape.ndim == 2, op, ": topk_idx must be (N, k), got ", topk_idx.shape.str());
  MOE_CHECK(n_experts >= 1, op, ": n_experts = ", n_experts, " must be positive");
  const int64_t N = topk_idx.size(0), k = topk_idx.size(1);
  MOE_CHECK(N >= 1 && k >= 1, op, ": topk_idx ", topk_idx.shape.str(), " has no slots");
  MOE_CHECK(N * k <= std::numeric_limits<int32_t>::max(), op, ": N*k = ", N * k,
            " slots do not fit the int32 slot indices");
  MOE_CHECK(capacity >= 1 && capacity <= N, op, ": capacity = ", capacity, " must be in [1, ", N,
            "]");
  check_shape(op, "gates", gates, {N, k});
  float_dtype(op, backend, "gates", gates);
  check_shape(op, "expert_offsets", expert_offsets, {n_experts + 1});
  check_shape(op, "sorted_slots", sorted_slots, {n_experts * capacity});
  check_shape(op, "slot_rows", slot_rows, {N * k});
  check_shape(op, "dropped", dropped, {1});
  check_dtype(op, "expert_offsets", expert_offsets, DType::I32);
  check_dtype(op, "sorted_slots", sorted_slots, DType::I32);
  check_dtype(op, "slot_rows", slot_rows, DType::I32);
  check_dtype(op, "dropped", dropped, DType::I32);
  check_topk_idx(op, backend, topk_idx, N, k, n_experts);
  backend.dispatch.expert_choice_plan(expert_offsets, sorted_slots, slot_rows, dropped, topk_idx,
                                      gates, capacity);
}

}  // namespace moe::ops
