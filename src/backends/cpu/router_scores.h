// CPU kernels for scored routing (see ops/router_scores.h for the math). The templates are
// exposed so tests can run them in fp64.
#pragma once
#include <cstdint>

#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cpu {

// topk_idx (N, k), gates (N, k), logits (N, E), bias (E) or null.
template <typename T>
void scored_router_forward(int32_t* topk_idx, T* gates, const T* logits, const T* bias, int64_t N,
                           int64_t E, int64_t k, const ScoredRouterArgs& args);
// dlogits (N, E) assigned; dgates, topk_idx, gates (N, k); logits (N, E).
template <typename T>
void scored_router_backward(T* dlogits, const T* dgates, const int32_t* topk_idx, const T* gates,
                            const T* logits, int64_t N, int64_t E, int64_t k,
                            const ScoredRouterArgs& args);
// bias (E) updated; load (E) F64 whole-number counts, reset to 0.
template <typename T>
void router_bias_update(T* bias, double* load, int64_t E, T gamma);

// Table entries (backends/backend.h).
void scored_router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& bias,
                           const ScoredRouterArgs& args);
void scored_router_backward(Tensor dlogits, const Tensor& dgates, const Tensor& topk_idx,
                            const Tensor& gates, const Tensor& logits,
                            const ScoredRouterArgs& args);
void router_load_accumulate(Tensor load, const Tensor& topk_idx);
void router_bias_update(Tensor bias, Tensor load, float gamma);

}  // namespace moe::cpu
