#include "ops/moe_router.h"

#include "ops/dispatch.h"

namespace moe::ops {

namespace {

// top_k and temperature checks shared by the gate path.
void check_router_args(const char* op, int64_t E, const RouterArgs& args) {
  check_top_k(op, args.top_k, E);
  check_temperature(op, args.temperature);
}

void check_loss_args(const char* op, const RouterLossArgs& args) {
  MOE_CHECK(args.score == RouterScore::Softmax || args.score == RouterScore::Sigmoid, op,
            ": unknown score function");
  check_temperature(op, args.temperature);
}

void check_noise(const char* op, const Tensor& noise_logits, const Tensor& noise_eps, int64_t N,
                 int64_t E, DType dtype) {
  MOE_CHECK(noise_logits.empty() == noise_eps.empty(), op,
            ": noise_logits and noise_eps must be both given or both empty");
  if (noise_logits.empty()) return;
  check_shape(op, "noise_logits", noise_logits, {N, E});
  check_shape(op, "noise_eps", noise_eps, {N, E});
  check_dtype(op, "noise_logits", noise_logits, dtype);
  check_dtype(op, "noise_eps", noise_eps, dtype);
}

}  // namespace

void router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& noise_logits,
                    const Tensor& noise_eps, const RouterArgs& args) {
  const char* op = "router_forward";
  const Backend& backend = backend_for(op, {&topk_idx, &gates, &logits, &noise_logits, &noise_eps});
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, E), got ", logits.shape.str());
  const int64_t N = logits.size(0), E = logits.size(1);
  check_router_args(op, E, args);
  const int64_t k = args.top_k;
  const DType dtype = float_dtype(op, backend, "logits", logits);
  check_shape(op, "topk_idx", topk_idx, {N, k});
  check_shape(op, "gates", gates, {N, k});
  check_dtype(op, "topk_idx", topk_idx, DType::I32);
  check_dtype(op, "gates", gates, dtype);
  check_noise(op, noise_logits, noise_eps, N, E, dtype);
  backend.router.router_forward(topk_idx, gates, logits, noise_logits, noise_eps, args);
}

void router_backward(Tensor dlogits, Tensor dnoise_logits, const Tensor& dgates,
                     const Tensor& topk_idx, const Tensor& gates, const Tensor& noise_logits,
                     const Tensor& noise_eps, const RouterArgs& args) {
  const char* op = "router_backward";
  const Backend& backend = backend_for(
      op, {&dlogits, &dnoise_logits, &dgates, &topk_idx, &gates, &noise_logits, &noise_eps});
  MOE_CHECK(dlogits.shape.ndim == 2, op, ": dlogits must be (N, E), got ", dlogits.shape.str());
  const int64_t N = dlogits.size(0), E = dlogits.size(1);
  check_router_args(op, E, args);
  const int64_t k = args.top_k;
  const DType dtype = float_dtype(op, backend, "dlogits", dlogits);
  check_shape(op, "dgates", dgates, {N, k});
  check_shape(op, "gates", gates, {N, k});
  check_dtype(op, "dgates", dgates, dtype);
  check_dtype(op, "gates", gates, dtype);
  check_noise(op, noise_logits, noise_eps, N, E, dtype);
  if (!dnoise_logits.empty()) {
    MOE_CHECK(!noise_logits.empty(), op, ": dnoise_logits needs noise_logits and noise_eps");
    check_shape(op, "dnoise_logits", dnoise_logits, {N, E});
    check_dtype(op, "dnoise_logits", dnoise_logits, dtype);
  }
  check_topk_idx(op, backend, topk_idx, N, k, E);
  backend.router.router_backward(dlogits, dnoise_logits, dgates, topk_idx, gates, noise_logits,
                                 noise_eps, args);
}

void router_losses_forward(Tensor stats, Tensor expert_fraction, const Tensor& logits,
                           const Tensor& topk_idx, const RouterLossArgs& args) {
  const char* op = "router_losses_forward";
  const Backend& backend = backend_for(op, {&stats, &expert_fraction, &logits, &topk_idx});
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, E), got ", logits.shape.str());
  MOE_CHECK(topk_idx.shape.ndim == 2, op, ": topk_idx must be (N, k), got ", topk_idx.shape.str());
  const int64_t N = logits.size(0), E = logits.size(1), k = topk_idx.size(1);
  MOE_CHECK(N >= 1, op, ": logits has no tokens");
  check_top_k(op, k, E);
  check_loss_args(op, args);
  const DType dtype = float_dtype(op, backend, "logits", logits);
  check_shape(op, "expert_fraction", expert_fraction, {E});
  check_dtype(op, "expert_fraction", expert_fraction, dtype);
  check_topk_idx(op, backend, topk_idx, N, k, E);
  check_dtype(op, "stats", stats, DType::F64);
  check_shape(op, "stats", stats, {kRouterLossStats});
  backend.router.router_losses_forward(stats, expert_fraction, logits, topk_idx, args);
}

void router_losses_backward(Tensor dlogits, const Tensor& logits, const Tensor& expert_fraction,
                            const RouterLossArgs& args, float aux_coef, float z_coef) {
  const char* op = "router_losses_backward";
  const Backend& backend = backend_for(op, {&dlogits, &logits, &expert_fraction});
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, E), got ", logits.shape.str());
  const int64_t N = logits.size(0), E = logits.size(1);
  MOE_CHECK(N >= 1, op, ": logits has no tokens");
  check_loss_args(op, args);
  const DType dtype = float_dtype(op, backend, "logits", logits);
  check_shape(op, "dlogits", dlogits, {N, E});
  check_shape(op, "expert_fraction", expert_fraction, {E});
  check_dtype(op, "dlogits", dlogits, dtype);
  check_dtype(op, "expert_fraction", expert_fraction, dtype);
  backend.router.router_losses_backward(dlogits, logits, expert_fraction, args, aux_coef, z_coef);
}

}  // namespace moe::ops
