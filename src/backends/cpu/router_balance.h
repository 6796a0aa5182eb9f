// CPU kernels for the load-balancing losses over segments of the tokens (see
// ops/router_balance.h for the math). Expert indices lie in [0, E), as the ops layer checked.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64; loss (1) F64.
void segment_fractions(Tensor fraction, const Tensor& topk_idx);
void balance_loss_forward(Tensor loss, const Tensor& scores, const Tensor& fraction);
void balance_loss_backward(Tensor dscores, const Tensor& fraction, float coef);
void softmax_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs, float temperature);
void normalized_sigmoid_forward(Tensor probs, const Tensor& logits);
void normalized_sigmoid_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                                 const Tensor& logits);

// The kernels, templated on the scalar type; S segments of T tokens, N = S * T.

// fraction (S, E) assigned; topk_idx (N, k).
template <typename T>
void segment_fractions(T* fraction, const int32_t* topk_idx, int64_t S, int64_t tokens, int64_t E,
                       int64_t k);

// loss (1); scores (N, E); fraction (S, E).
template <typename T>
void balance_loss_forward(double* loss, const T* scores, const T* fraction, int64_t S,
                          int64_t tokens, int64_t E);

// dscores (N, E) assigned; fraction (S, E).
template <typename T>
void balance_loss_backward(T* dscores, const T* fraction, int64_t S, int64_t tokens, int64_t E,
                           T coef);

// dlogits (N, E) accumulated; dprobs, probs (N, E).
template <typename T>
void softmax_backward(T* dlogits, const T* dprobs, const T* probs, int64_t N, int64_t E,
                      T temperature);

// probs (N, E) assigned; logits (N, E).
template <typename T>
void normalized_sigmoid_forward(T* probs, const T* logits, int64_t N, int64_t E);

// dlogits (N, E) accumulated; dprobs, probs, logits (N, E).
template <typename T>
void normalized_sigmoid_backward(T* dlogits, const T* dprobs, const T* probs, const T* logits,
                                 int64_t N, int64_t E);

}  // namespace moe::cpu
