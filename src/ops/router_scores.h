// Scored routing: sigmoid gating and auxiliary-loss-free balancing (DeepSeek-V3, arXiv 2412.19437,
// section 2.1.2; Wang et al. 2024, "Auxiliary-Loss-Free Load Balancing Strategy for
// Mixture-of-Experts", arXiv 2408.15664).
//
// Gate path:
//   s = sigmoid(logits)  or  s = softmax(logits / temperature)      (args.score)
//   topk_idx = indices of the k largest s + bias (ties: lower expert index first), descending;
//              the bias (E) steers the selection only
//   gates    = scaling * s_kept / sum(s_kept)       (the unbiased scores, renormalised over the k)
// With softmax scores the gates are the softmax over the kept logits / temperature, as in
// ops/moe_router.h.
// The losses of either score function are ops/moe_router.h's router_losses_*.
// Balancing: after each optimizer step every bias moves by gamma toward balance,
//   b_e += gamma * sign(mean_load - load_e)   (Wang et al. 2024, algorithm 1).
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::ops {

using moe::RouterScore;
using moe::ScoredRouterArgs;

// topk_idx (N, k) I32; gates (N, k); logits (N, E); bias (E) or empty (no bias).
void scored_router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& bias,
                           const ScoredRouterArgs& args);

// dlogits (N, E) assigned (zero outside the top k); dgates, topk_idx, gates (N, k); logits (N, E).
void scored_router_backward(Tensor dlogits, const Tensor& dgates, const Tensor& topk_idx,
                            const Tensor& gates, const Tensor& logits,
                            const ScoredRouterArgs& args);

// load (E) F64 += the number of assignments of topk_idx (N, k) to each expert. The counts are
// whole numbers held in F64, exact up to 2^53, so that processes can sum them with the F64
// collectives (a data-parallel step's load is every rank's micro-batches').
void router_load_accumulate(Tensor load, const Tensor& topk_idx);

// bias (E) += gamma * sign(mean(load) - load_e); then load (E) F64 = 0 for the next step.
void router_bias_update(Tensor bias, Tensor load, float gamma);

}  // namespace moe::ops
