// Expert-choice routing (Zhou et al. 2022, "Mixture-of-Experts with Expert Choice Routing",
// arXiv 2202.09368): instead of each token picking its top-k experts, each expert picks its top C
// tokens of the batch. The gate path is router_forward with top_k = E (ops/moe_router.h): every
// token's slots j = 0..E-1 name all experts (topk_idx[n, j]) with gates[n, j] = S[n, topk_idx[n,
// j]], S = softmax(logits / temperature), so router_backward and the dispatch ops
// (ops/moe_permute.h, with k = E) serve expert choice unchanged; only the plan differs.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::ops {

// The tokens each expert takes from a batch of n_tokens: C = n * c / E (the paper's
// "k = n × c / e", c = the average number of experts per token, here model.top_k), rounded half
// up and kept within [1, n].
int64_t expert_choice_capacity(int64_t n_tokens, int64_t n_experts, int64_t experts_per_token);

// The dispatch plan of expert choice, in moe_dispatch_plan's layout (slot = n*k + j):
// each expert e keeps the `capacity` slots with topk_idx == e of highest gate (ties: lower slot,
// i.e. lower token, first), or all of them when it has fewer; row offsets[e] + r holds its r-th
// kept slot in that order. The expert-ordered rows are E * capacity (= about k_avg * N, the
// paper's n * c), not the N*k candidate slots: the experts compute only what they keep.
// expert_offsets (E+1) I32; sorted_slots (E * capacity) I32 (first M = offsets[E] valid, the
// rest -1); slot_rows (N*k) I32 (-1 for slots no expert kept); dropped (1) I32 = the number of
// tokens no expert kept; topk_idx (N, k) I32; gates (N, k).
void expert_choice_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows,
                        Tensor dropped, const Tensor& topk_idx, const Tensor& gates,
                        int64_t n_experts, int64_t capacity);

}  // namespace moe::ops
