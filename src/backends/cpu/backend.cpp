#include "backends/cpu/backend.h"

#include "backends/cpu/activation.h"
#include "backends/cpu/adamw.h"
#include "backends/cpu/attention.h"
#include "backends/cpu/bf16.h"
#include "backends/cpu/blas.h"
#include "backends/cpu/dropout.h"
#include "backends/cpu/elementwise.h"
#include "backends/cpu/embedding.h"
#include "backends/cpu/expert_choice.h"
#include "backends/cpu/grouped_gemm.h"
#include "backends/cpu/layernorm.h"
#include "backends/cpu/matmul.h"
#include "backends/cpu/memory.h"
#include "backends/cpu/moe_permute.h"
#include "backends/cpu/moe_router.h"
#include "backends/cpu/rmsnorm.h"
#include "backends/cpu/rope.h"
#include "backends/cpu/router_balance.h"
#include "backends/cpu/router_scores.h"
#include "backends/cpu/softmax_xent.h"

namespace moe::cpu {

namespace {

constexpr DType kDTypes[] = {DType::F32, DType::F64};

// The host is always there.
const char* no_missing_device() {
  return nullptr;
}

// Constant-initialised (function addresses only), so the table exists before any code runs and
// no registration order matters.
constinit const Backend kBackend{
    .name = "cpu",
    .device = Device::CPU,
    .dtypes = kDTypes,
    .host_memory = true,
    .missing_device = no_missing_device,
    .kernel_library = blas_kernels,
    // Host memory's peak is the process's RSS; the CPU's rate depends on its cores and vector
    // units, which bench/sgemm_peak measures.
    .peak_memory_bytes = nullptr,
    .peak_flops = nullptr,
    .memory = {.device = Device::CPU,
               .allocate = allocate,
               .free = free,
               .zero = zero_memory,
               .copy_to_device = copy_memory,
               .copy_to_host = copy_memory,
               .copy_on_device = copy_memory},
    .elementwise = {.fill = fill,
                    .add = add,
                    .add_widened = add_widened,
                    .scale_inplace = scale_inplace,
                    .sum_squares = sum_squares,
                    .all_finite = all_finite,
                    .fill_normal = fill_normal,
                    .fill_uniform = fill_uniform},
    .activation = {.relu_forward = relu_forward,
                   .relu_backward = relu_backward,
                   .swiglu_forward = swiglu_forward,
                   .swiglu_backward = swiglu_backward,
                   .dropout_forward = dropout_forward,
                   .dropout_backward = dropout_backward},
    .norm = {.layernorm_forward = layernorm_forward,
             .layernorm_backward = layernorm_backward,
             .rmsnorm_forward = rmsnorm_forward,
             .rmsnorm_backward = rmsnorm_backward},
    .linear = {.linear_forward = linear_forward,
               .linear_backward = linear_backward,
               .grouped_linear_forward = grouped_linear_forward,
               .grouped_linear_backward = grouped_linear_backward},
    .bf16_linear = {.linear_forward = bf16_linear_forward,
                    .linear_backward = bf16_linear_backward,
                    .grouped_linear_forward = bf16_grouped_linear_forward,
                    .grouped_linear_backward = bf16_grouped_linear_backward},
    .cast = {.to_bf16 = cast_to_bf16,
             .to_bf16_stochastic = cast_to_bf16_stochastic,
             .from_bf16 = cast_from_bf16},
    .embedding = {.embedding_forward = embedding_forward,
                  .embedding_backward = embedding_backward,
                  .rope_forward = rope_forward,
                  .rope_backward = rope_backward},
    .attention = {.attention_forward = attention_forward, .attention_backward = attention_backward},
    .loss = {.softmax_xent_forward = softmax_xent_forward,
             .softmax_xent_backward = softmax_xent_backward,
             .softmax_forward = softmax_forward},
    .router = {.router_forward = router_forward,
               .router_backward = router_backward,
               .router_losses_forward = router_losses_forward,
               .router_losses_backward = router_losses_backward},
    .scored_router = {.scored_router_forward = scored_router_forward,
                      .scored_router_backward = scored_router_backward,
                      .router_load_accumulate = router_load_accumulate,
                      .router_bias_update = router_bias_update},
    .balance = {.segment_fractions = segment_fractions,
                .balance_loss_forward = balance_loss_forward,
                .balance_loss_backward = balance_loss_backward,
                .softmax_backward = softmax_backward,
                .normalized_sigmoid_forward = normalized_sigmoid_forward,
                .normalized_sigmoid_backward = normalized_sigmoid_backward},
    .dispatch = {.moe_dispatch_plan = moe_dispatch_plan,
                 .expert_choice_plan = expert_choice_plan,
                 .moe_gather = moe_gather,
                 .moe_gather_backward = moe_gather_backward,
                 .moe_scatter = moe_scatter,
                 .moe_scatter_backward = moe_scatter_backward},
    .optimizer = {.adamw_update = adamw_update},
};

}  // namespace

const Backend& backend() {
  return kBackend;
}

}  // namespace moe::cpu
