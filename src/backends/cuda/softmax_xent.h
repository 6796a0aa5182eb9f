// CUDA kernels for the fused softmax + cross-entropy over the vocabulary and the plain softmax,
// the same results as backends/cpu/softmax_xent.h: logits, dlogits, probs (N, V); targets and
// losses (N); targets in [0, V).
#pragma once
#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32.
void softmax_xent_forward(Tensor losses, Tensor mean, const Tensor& logits, const Tensor& targets);
void softmax_xent_backward(Tensor dlogits, const Tensor& logits, const Tensor& targets,
                           float dloss);
void softmax_forward(Tensor probs, const Tensor& logits, float temperature);

}  // namespace moe::cuda
