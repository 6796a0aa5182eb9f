#include "ops/moe_router.h"

#include "backends/cpu/moe_router.h"
#include "ops/dispatch.h"

namespace moe::ops {

namespace {

// top_k and temperature checks shared by the gate path.
void check_router_args(const char* op, int64_t E, const RouterArgs& args) {
  MOE_CHECK(args.top_k >= 1 && args.top_k <= E, op, ": top_k = ", args.top_k,
            " must be in [1, n_experts = ", E, "]");
  MOE_CHECK(args.temperature > 0.0f, op, ": temperature = ", args.temperature, " must be positive");
}

void check_noise(const char* op, const Tensor& noise_logits, const Tensor& noise_eps, int64_t N,
                 int64_t E) {
  MOE_CHECK(noise_logits.empty() == noise_eps.empty(), op,
            ": noise_logits and noise_eps must be both given or both empty");
  if (noise_logits.empty()) return;
  check_shape(op, "noise_logits", noise_logits, {N, E});
  check_shape(op, "noise_eps", noise_eps, {N, E});
  check_dtype(op, "noise_logits", noise_logits, DType::F32);
  check_dtype(op, "noise_eps", noise_eps, DType::F32);
}

const float* f32_or_null(const Tensor& t) {
  return t.empty() ? nullptr : t.f32();
}

}  // namespace

void router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& noise_logits,
                    const Tensor& noise_eps, const RouterArgs& args) {
  const char* op = "router_forward";
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, E), got ", logits.shape.str());
  const int64_t N = logits.size(0), E = logits.size(1);
  check_router_args(op, E, args);
  const int64_t k = args.top_k;
  check_shape(op, "topk_idx", topk_idx, {N, k});
  check_shape(op, "gates", gates, {N, k});
  check_dtype(op, "topk_idx", topk_idx, DType::I32);
  check_dtype(op, "gates", gates, DType::F32);
  check_dtype(op, "logits", logits, DType::F32);
  check_noise(op, noise_logits, noise_eps, N, E);
  switch (common_device(op, {&topk_idx, &gates, &logits, &noise_logits, &noise_eps})) {
    case Device::CPU:
      cpu::router_forward<float>(topk_idx.i32(), gates.f32(), logits.f32(),
                                 f32_or_null(noise_logits), f32_or_null(noise_eps), N, E, k,
                                 args.temperature);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void router_backward(Tensor dlogits, Tensor dnoise_logits, const Tensor& dgates,
                     const Tensor& topk_idx, const Tensor& gates, const Tensor& noise_logits,
                     const Tensor& noise_eps, const RouterArgs& args) {
  const char* op = "router_backward";
  MOE_CHECK(dlogits.shape.ndim == 2, op, ": dlogits must be (N, E), got ", dlogits.shape.str());
  const int64_t N = dlogits.size(0), E = dlogits.size(1);
  check_router_args(op, E, args);
  const int64_t k = args.top_k;
  check_shape(op, "dgates", dgates, {N, k});
  check_shape(op, "topk_idx", topk_idx, {N, k});
  check_shape(op, "gates", gates, {N, k});
  check_dtype(op, "dlogits", dlogits, DType::F32);
  check_dtype(op, "dgates", dgates, DType::F32);
  check_dtype(op, "topk_idx", topk_idx, DType::I32);
  check_dtype(op, "gates", gates, DType::F32);
  check_noise(op, noise_logits, noise_eps, N, E);
  if (!dnoise_logits.empty()) {
    MOE_CHECK(!noise_logits.empty(), op, ": dnoise_logits needs noise_logits and noise_eps");
    check_shape(op, "dnoise_logits", dnoise_logits, {N, E});
    check_dtype(op, "dnoise_logits", dnoise_logits, DType::F32);
  }
  switch (common_device(
      op, {&dlogits, &dnoise_logits, &dgates, &topk_idx, &gates, &noise_logits, &noise_eps})) {
    case Device::CPU:
      cpu::router_backward<float>(
          dlogits.f32(), dnoise_logits.empty() ? nullptr : dnoise_logits.f32(), dgates.f32(),
          topk_idx.i32(), gates.f32(), f32_or_null(noise_logits), f32_or_null(noise_eps), N, E, k,
          args.temperature);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

RouterStats router_losses_forward(Tensor expert_fraction, const Tensor& logits,
                                  const Tensor& topk_idx, float temperature) {
  const char* op = "router_losses_forward";
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, E), got ", logits.shape.str());
  MOE_CHECK(topk_idx.shape.ndim == 2, op, ": topk_idx must be (N, k), got ", topk_idx.shape.str());
  const int64_t N = logits.size(0), E = logits.size(1), k = topk_idx.size(1);
  MOE_CHECK(N >= 1, op, ": logits has no tokens");
  MOE_CHECK(k >= 1 && k <= E, op, ": top_k = ", k, " must be in [1, n_experts = ", E, "]");
  MOE_CHECK(temperature > 0.0f, op, ": temperature = ", temperature, " must be positive");
  check_shape(op, "expert_fraction", expert_fraction, {E});
  check_shape(op, "topk_idx", topk_idx, {N, k});
  check_dtype(op, "expert_fraction", expert_fraction, DType::F32);
  check_dtype(op, "logits", logits, DType::F32);
  check_dtype(op, "topk_idx", topk_idx, DType::I32);
  switch (common_device(op, {&expert_fraction, &logits, &topk_idx})) {
    case Device::CPU: {
      float losses[3];
      cpu::router_losses_forward<float>(losses, expert_fraction.f32(), logits.f32(), topk_idx.i32(),
                                        N, E, k, temperature);
      return RouterStats{losses[0], losses[1], losses[2]};
    }
    case Device::CUDA:
      cuda_unavailable(op);
  }
  return {};
}

void router_losses_backward(Tensor dlogits, const Tensor& logits, const Tensor& expert_fraction,
                            float temperature, float aux_coef, float z_coef) {
  const char* op = "router_losses_backward";
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, E), got ", logits.shape.str());
  const int64_t N = logits.size(0), E = logits.size(1);
  MOE_CHECK(N >= 1, op, ": logits has no tokens");
  MOE_CHECK(temperature > 0.0f, op, ": temperature = ", temperature, " must be positive");
  check_shape(op, "dlogits", dlogits, {N, E});
  check_shape(op, "expert_fraction", expert_fraction, {E});
  check_dtype(op, "dlogits", dlogits, DType::F32);
  check_dtype(op, "logits", logits, DType::F32);
  check_dtype(op, "expert_fraction", expert_fraction, DType::F32);
  switch (common_device(op, {&dlogits, &logits, &expert_fraction})) {
    case Device::CPU:
      cpu::router_losses_backward<float>(dlogits.f32(), logits.f32(), expert_fraction.f32(), N, E,
                                         temperature, aux_coef, z_coef);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
