// Fused softmax + cross-entropy over the vocabulary, statistics in the logits' dtype
// (max-subtracted logsumexp).
#pragma once
#include "core/tensor.h"

namespace moe::ops {

// losses (N) = logsumexp(logits[i]) - logits[i, targets[i]]; mean (1) F64 = their mean, summed in
// row order in fp64; logits (N, V); targets (N) I32. Targets outside [0, V) raise an error.
void softmax_xent_forward(Tensor losses, Tensor mean, const Tensor& logits, const Tensor& targets);

// dlogits (N, V) = (softmax(logits) - onehot(targets)) * dloss, assigned. dlogits may alias
// logits. dloss is the gradient of the objective w.r.t. each row's loss (1/N for a mean).
void softmax_xent_backward(Tensor dlogits, const Tensor& logits, const Tensor& targets,
                           float dloss);

// probs (N, V) = softmax(logits / temperature) (for sampling).
void softmax_forward(Tensor probs, const Tensor& logits, float temperature);

}  // namespace moe::ops
