// Load-balancing losses of the router computed from its normalised scores, over segments of the
// tokens: one segment per sequence for the sequence-wise loss, the whole micro-batch with
// fractions counted over the optimizer step for global-batch balancing.
//
// For S segments of T tokens each (N = S * T), scores s' (N, E) normalised over the experts and
// fractions f[s, e] (the share of segment s's T*k assignments that went to expert e):
//   loss = E/S * sum_s sum_e f[s, e] * P[s, e],   P[s, e] = (1/T) sum_{t in s} s'[t, e]
// With one segment per sequence this is DeepSeek-V3's complementary sequence-wise auxiliary loss
// (arXiv 2412.19437, §2.1.2, eq. 17-20: its f_i = E/(K*T) * count = E * f[s, i]), before its
// coefficient alpha. With one segment and fractions counted over all micro-batches of the step it
// is the Switch loss (Fedus et al. 2021, eq. 4) with global-batch fractions (Qiu et al. 2025,
// "Demons in the Detail", arXiv 2501.11873). The fractions count discrete choices, so they are
// constants of the gradient. The scores are an input so that any normalisation feeds the same
// kernels: the softmax of the logits (softmax_backward carries the gradient through it) or the
// sigmoid scores divided by their row sum, DeepSeek-V3's s'_{i,t} = s_{i,t} / sum_j s_{j,t}
// (eq. 19; normalized_sigmoid_forward / normalized_sigmoid_backward).
#pragma once
#include "core/tensor.h"

namespace moe::ops {

// fraction (S, E) assigned: f[s, e] = (# of assignments of segment s to e) / (T * k);
// topk_idx (N, k) I32 with N = S * T.
void segment_fractions(Tensor fraction, const Tensor& topk_idx);

// loss (1) F64 = E/S * sum_s sum_e fraction[s, e] * mean_{t in s} scores[t, e], summed in fp64.
// scores (N, E); fraction (S, E), S divides N.
void balance_loss_forward(Tensor loss, const Tensor& scores, const Tensor& fraction);

// dscores (N, E) assigned: coef * d(loss)/d(scores) = coef * E * fraction[s(n), e] / N.
void balance_loss_backward(Tensor dscores, const Tensor& fraction, float coef);

// dlogits (N, E) += d/d(logits) of sum(dprobs * probs) with probs = softmax(logits / temperature):
// probs * (dprobs - sum_e probs * dprobs) / temperature. dprobs, probs (N, E).
void softmax_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs, float temperature);

// probs (N, E) assigned = s / sum_e s_e with s = sigmoid(logits); logits (N, E).
void normalized_sigmoid_forward(Tensor probs, const Tensor& logits);

// dlogits (N, E) += d/d(logits) of sum(dprobs * probs) with probs = normalized_sigmoid_forward:
// probs * (dprobs - sum_e probs * dprobs) * (1 - sigmoid(logits)) (d probs_e / d s_j =
// (delta_ej - probs_e) / sum(s), and d s / d logits = s (1 - s)). dprobs, probs, logits (N, E).
void normalized_sigmoid_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                                 const Tensor& logits);

}  // namespace moe::ops
