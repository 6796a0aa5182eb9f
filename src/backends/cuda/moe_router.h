// CUDA kernels for the MoE router (see ops/moe_router.h for the math), the same results as
// backends/cpu/moe_router.h: the same top-k order and tie rule, and statistics summed in a fixed
// order on the device.
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32; stats (3) F64.
void router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& noise_logits,
                    const Tensor& noise_eps, const RouterArgs& args);
void router_backward(Tensor dlogits, Tensor dnoise_logits, const Tensor& dgates,
                     const Tensor& topk_idx, const Tensor& gates, const Tensor& noise_logits,
                     const Tensor& noise_eps, const RouterArgs& args);
void router_losses_forward(Tensor stats, Tensor expert_fraction, const Tensor& logits,
                           const Tensor& topk_idx, const RouterLossArgs& args);
void router_losses_backward(Tensor dlogits, const Tensor& logits, const Tensor& expert_fraction,
                            const RouterLossArgs& args, float aux_coef, float z_coef);

}  // namespace moe::cuda
