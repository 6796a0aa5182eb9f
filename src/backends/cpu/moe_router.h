// CPU kernels for the MoE router (see ops/moe_router.h for the math). Expert indices lie in
// [0, E), as the ops layer checked.
#pragma once
#include <cstdint>

#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& noise_logits,
                    const Tensor& noise_eps, const RouterArgs& args);
void router_backward(Tensor dlogits, Tensor dnoise_logits, const Tensor& dgates,
                     const Tensor& topk_idx, const Tensor& gates, const Tensor& noise_logits,
                     const Tensor& noise_eps, const RouterArgs& args);
void router_losses_forward(Tensor stats, Tensor expert_fraction, const Tensor& logits,
                           const Tensor& topk_idx, const RouterLossArgs& args);
void router_losses_backward(Tensor dlogits, const Tensor& logits, const Tensor& expert_fraction,
                            const RouterLossArgs& args, float aux_coef, float z_coef);

// The kernels, templated on the scalar type.

// topk_idx (N, k), gates (N, k), logits (N, E), noise_logits (N, E) or null, noise_eps (N, E) or
// null (both null or both set).
template <typename T>
void router_forward(int32_t* topk_idx, T* gates, const T* logits, const T* noise_logits,
                    const T* noise_eps, int64_t N, int64_t E, int64_t k, T temperature);

// dlogits (N, E), dnoise_logits (N, E) or null, dgates (N, k), topk_idx (N, k), gates (N, k),
// noise_logits (N, E) or null, noise_eps (N, E) or null.
template <typename T>
void router_backward(T* dlogits, T* dnoise_logits, const T* dgates, const int32_t* topk_idx,
                     const T* gates, const T* noise_logits, const T* noise_eps, int64_t N,
                     int64_t E, int64_t k, T temperature);

// stats (3): aux, z, entropy; expert_fraction (E), logits (N, E), topk_idx (N, k).
template <typename T>
void router_losses_forward(double* stats, T* expert_fraction, const T* logits,
                           const int32_t* topk_idx, int64_t N, int64_t E, int64_t k,
                           const RouterLossArgs& args);

// dlogits (N, E) accumulated, logits (N, E), expert_fraction (E).
template <typename T>
void router_losses_backward(T* dlogits, const T* logits, const T* expert_fraction, int64_t N,
                            int64_t E, const RouterLossArgs& args, T aux_coef, T z_coef);

}  // namespace moe::cpu
