#include "backends/cuda/backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "backends/cuda/activation.h"
#include "backends/cuda/adamw.h"
#include "backends/cuda/attention.h"
#include "backends/cuda/cast.h"
#include "backends/cuda/check.h"
#include "backends/cuda/dropout.h"
#include "backends/cuda/elementwise.h"
#include "backends/cuda/embedding.h"
#include "backends/cuda/expert_choice.h"
#include "backends/cuda/grouped_gemm.h"
#include "backends/cuda/layernorm.h"
#include "backends/cuda/matmul.h"
#include "backends/cuda/memory.h"
#include "backends/cuda/moe_permute.h"
#include "backends/cuda/moe_router.h"
#include "backends/cuda/peak_rate.h"
#include "backends/cuda/rmsnorm.h"
#include "backends/cuda/rope.h"
#include "backends/cuda/router_balance.h"
#include "backends/cuda/router_scores.h"
#include "backends/cuda/softmax_xent.h"

namespace moe::cuda {

namespace {

constexpr DType kDTypes[] = {DType::F32};

// Asked once per process by the registry (backends/registry.cpp).
const char* missing_device() {
  static const std::string reason = [] {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      // The failed call leaves its error as the last error; clear it for later launch checks.
      (void)cudaGetLastError();
      return std::string("no CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(status) + ")";
    }
    if (count == 0) return std::string("no CUDA device (cudaGetDeviceCount found 0 devices)");
    return std::string();
  }();
  return reason.empty() ? nullptr : reason.c_str();
}

// "cuBLAS 13.0.2, NVIDIA H200" for run records; asked only when the device is there.
const char* kernel_library() {
  static const std::string name = [] {
    int major = 0, minor = 0, patch = 0;
    MOE_CUBLAS_CHECK(cublasGetProperty(MAJOR_VERSION, &major));
    MOE_CUBLAS_CHECK(cublasGetProperty(MINOR_VERSION, &minor));
    MOE_CUBLAS_CHECK(cublasGetProperty(PATCH_LEVEL, &patch));
    int device = 0;
    MOE_CUDA_CHECK(cudaGetDevice(&device));
    cudaDeviceProp prop{};
    MOE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    return "cuBLAS " + std::to_string(major) + "." + std::to_string(minor) + "." +
           std::to_string(patch) + ", " + prop.name;
  }();
  return name.c_str();
}

// Backend::peak_flops: the rates of backends/cuda/peak_rate.h for this device, read once.
double peak_flops(DType math) {
  static const DeviceRateInputs inputs = [] {
    static cudaDeviceProp prop{};  // its name outlives the inputs
    DeviceRateInputs d;
    int device = 0;
    MOE_CUDA_CHECK(cudaGetDevice(&device));
    MOE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, device));
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&d.clock_khz, cudaDevAttrClockRate, device));
    d.major = prop.major;
    d.minor = prop.minor;
    d.name = prop.name;
    return d;
  }();
  return cuda::peak_flops(inputs, math);
}

// Constant-initialised (function addresses only), as the CPU table.
constinit const Backend kBackend{
    .name = "cuda",
    .device = Device::CUDA,
    .dtypes = kDTypes,
    .host_memory = false,
    .missing_device = missing_device,
    .kernel_library = kernel_library,
    .peak_memory_bytes = peak_memory_bytes,
    .peak_flops = peak_flops,
    .memory = {.device = Device::CUDA,
               .allocate = allocate,
               .free = free,
               .zero = zero_memory,
               .copy_to_device = copy_to_device,
               .copy_to_host = copy_to_host,
               .copy_on_device = copy_on_device},
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

}  // namespace moe::cuda
