// MoE router: top-k selection and gate weights, plus the load-balancing losses.
//
// Gate path (Shazeer et al. 2017, "Outrageously Large Neural Networks", noisy top-k gating):
//   sel = logits + eps * softplus(noise_logits)      (noisy router; otherwise sel = logits)
//   s   = sel / temperature
//   topk_idx = indices of the k largest s (ties: lower expert index first), in descending order
//   gates    = softmax over the kept s (= softmax over all experts, renormalised over the top k)
// Losses, on the clean logits, for either score function of the router (ops/router_scores.h):
//   P = softmax(logits / temperature), or P = s / sum_e s_e with s = sigmoid(logits) (the sigmoid
//       scores do not sum to 1; DeepSeek-V3's sequence-wise balance loss normalises them the same
//       way, arXiv 2412.19437, eq. 19)
//   f_e = (# of the N*k assignments to e) / (N*k)
//   aux = E * sum_e f_e * mean_n P[n, e]   (Fedus et al. 2021, Switch Transformer, eq. 4)
//   z   = mean_n logsumexp(logits[n])^2    (Zoph et al. 2022, ST-MoE, eq. 5)
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::ops {

// top_k and temperature; the losses' score function (backends/kernel_args.h).
using moe::RouterArgs;
using moe::RouterLossArgs;
using moe::RouterScore;

// topk_idx (N, k) I32; gates (N, k); logits (N, E); noise_logits, noise_eps (N, E) or both empty
// (eps are standard normal draws supplied by the caller).
void router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& noise_logits,
                    const Tensor& noise_eps, const RouterArgs& args);

// dlogits (N, E) assigned (zero outside the top k); dnoise_logits (N, E) assigned when not empty.
void router_backward(Tensor dlogits, Tensor dnoise_logits, const Tensor& dgates,
                     const Tensor& topk_idx, const Tensor& gates, const Tensor& noise_logits,
                     const Tensor& noise_eps, const RouterArgs& args);

// The statistics of one MoE layer, (kRouterStats) F64; router_losses_forward writes the first
// kRouterLossStats.
enum RouterStat : int64_t {
  kAuxLoss = 0,  // Switch load-balancing loss (before its coefficient)
  kZLoss = 1,    // router z-loss (before its coefficient)
  kEntropy = 2,  // mean over tokens of the entropy of P, nats (max ln E)
  kRouterLossStats = 3,
  kSeqAuxLoss = 3,  // sequence-wise balance loss (ops/router_balance.h; before its coefficient)
  kRouterStats = 4
};

// stats (kRouterLossStats) F64 as RouterStat (aux and entropy of P); expert_fraction (E): f_e.
// logits (N, E); topk_idx (N, k).
void router_losses_forward(Tensor stats, Tensor expert_fraction, const Tensor& logits,
                           const Tensor& topk_idx, const RouterLossArgs& args);

// dlogits (N, E) += aux_coef * d(aux)/d(logits) + z_coef * d(z)/d(logits).
void router_losses_backward(Tensor dlogits, const Tensor& logits, const Tensor& expert_fraction,
                            const RouterLossArgs& args, float aux_coef, float z_coef);

}  // namespace moe::ops
