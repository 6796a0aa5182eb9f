// CUDA kernels for scored routing (see ops/router_scores.h for the math), the same results as
// backends/cpu/router_scores.h: the same top-k order and tie rule, the same integer balance
// decisions, and statistics summed in a fixed order on the device.
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32; load F64.
void scored_router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& bias,
                           const ScoredRouterArgs& args);
void scored_router_backward(Tensor dlogits, const Tensor& dgates, const Tensor& topk_idx,
                            const Tensor& gates, const Tensor& logits,
                            const ScoredRouterArgs& args);
void router_load_accumulate(Tensor load, const Tensor& topk_idx);
void router_bias_update(Tensor bias, Tensor load, float gamma);

}  // namespace moe::cuda
