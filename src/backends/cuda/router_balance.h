// CUDA kernels for the load-balancing losses over segments of the tokens (see
// ops/router_balance.h for the math), the results of backends/cpu/router_balance.h with sums in a
// fixed order on the device.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32; loss (1) F64.
void segment_fractions(Tensor fraction, const Tensor& topk_idx);
void balance_loss_forward(Tensor loss, const Tensor& scores, const Tensor& fraction);
void balance_loss_backward(Tensor dscores, const Tensor& fraction, float coef);
void softmax_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs, float temperature);
void normalized_sigmoid_forward(Tensor probs, const Tensor& logits);
void normalized_sigmoid_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                                 const Tensor& logits);

// The launch behind segment_fractions, also the router losses' expert fractions (S = 1):
// fraction (S, E) assigned; topk_idx (S * tokens, k).
void segment_fractions(float* fraction, const int32_t* topk_idx, int64_t S, int64_t tokens,
                       int64_t E, int64_t k);

}  // namespace moe::cuda
