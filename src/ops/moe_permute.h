// Sparse dispatch: the N*k (token, slot) assignments are counting-sorted by expert (stable in
// token order), token rows are gathered into expert order for one GEMM per expert group, and
// expert outputs are scattered back as a gate-weighted sum. A slot is the pair index n*k + j.
// The expert-ordered buffers have R rows, the most a plan keeps (N*k for top-k routing, E * C for
// expert choice, ops/expert_choice.h); only the first M = expert_offsets[E] <= R rows are used.
// Nothing loops over experts with a dense mask.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::ops {

// expert_offsets (E+1) I32: expert e owns rows [off[e], off[e+1]);
// sorted_slots (N*k) I32: the slot id of each row (first M entries valid);
// slot_rows (N*k) I32: the row of each slot, -1 when dropped;
// topk_idx (N, k) I32. capacity > 0 keeps at most `capacity` assignments per expert (earlier
// tokens first, as in Switch Transformer); capacity <= 0 is dropless.
// dropped (1) I32 = the number of assignments over capacity.
void moe_dispatch_plan(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows, Tensor dropped,
                       const Tensor& topk_idx, int64_t n_experts, int64_t capacity);

// xs (R, C): row r = x[sorted_slots[r] / k] for r < M; x (N, C); sorted_slots (R) I32.
void moe_gather(Tensor xs, const Tensor& x, const Tensor& sorted_slots,
                const Tensor& expert_offsets, int64_t top_k);

// dx (N, C) = sum over the token's kept slots of dxs[slot_rows[slot]] (assigned); dxs (R, C);
// slot_rows (N*k) I32 in [-1, R).
void moe_gather_backward(Tensor dx, const Tensor& dxs, const Tensor& slot_rows, int64_t top_k);

// y (N, C) = sum_j gates[n, j] * ys[slot_rows[n*k + j]] (dropped slots add nothing; assigned);
// ys (R, C).
void moe_scatter(Tensor y, const Tensor& ys, const Tensor& gates, const Tensor& slot_rows);

// dys (R, C): row r = gates[slot] * dy[token] for r < M (assigned); ys (R, C);
// dgates (N, k) = dot(dy[n], ys[slot_rows[n*k + j]]), 0 for dropped slots (assigned).
void moe_scatter_backward(Tensor dys, Tensor dgates, const Tensor& dy, const Tensor& ys,
                          const Tensor& gates, const Tensor& slot_rows, const Tensor& sorted_slots,
                          const Tensor& expert_offsets);

}  // namespace moe::ops
