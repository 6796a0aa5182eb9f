// CPU kernels for the fused softmax + cross-entropy over the vocabulary and the plain softmax.
// Targets are assumed to lie in [0, V); the op layer checks them.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void softmax_xent_forward(Tensor losses, Tensor mean, const Tensor& logits, const Tensor& targets);
void softmax_xent_backward(Tensor dlogits, const Tensor& logits, const Tensor& targets,
                           float dloss);
void softmax_forward(Tensor probs, const Tensor& logits, float temperature);

// The kernels, templated on the scalar type.

// losses (N) = logsumexp(logits[i]) - logits[i, targets[i]]; logits (N, V); targets (N).
template <typename T>
void softmax_xent_forward(T* losses, const T* logits, const int32_t* targets, int64_t N, int64_t V);

// dlogits (N, V) = (softmax(logits) - onehot(targets)) * dloss, assigned; logits (N, V);
// targets (N). dlogits may alias logits.
template <typename T>
void softmax_xent_backward(T* dlogits, const T* logits, const int32_t* targets, T dloss, int64_t N,
                           int64_t V);

// probs (N, V) = softmax(logits (N, V) / temperature). probs may alias logits.
template <typename T>
void softmax_forward(T* probs, const T* logits, T temperature, int64_t N, int64_t V);

}  // namespace moe::cpu
