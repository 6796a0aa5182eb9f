#include "ops/router_scores.h"

#include "ops/dispatch.h"

namespace moe::ops {

namespace {

void check_scored_args(const char* op, int64_t E, const ScoredRouterArgs& args) {
  check_top_k(op, args.top_k, E);
  check_temperature(op, args.temperature);
  MOE_CHECK(args.scaling > 0.0f, op, ": scaling = ", args.scaling, " must be positive");
  MOE_CHECK(args.score == RouterScore::Softmax || args.score == RouterScore::Sigmoid, op,
            ": unknown score function");
}

}  // namespace

void scored_router_forward(Tensor topk_idx, Tensor gates, const Tensor& logits, const Tensor& bias,
                           const ScoredRouterArgs& args) {
  const char* op = "scored_router_forward";
  const Backend& backend = backend_for(op, {&topk_idx, &gates, &logits, &bias});
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, E), got ", logits.shape.str());
  const int64_t N = logits.size(0), E = logits.size(1);
  check_scored_args(op, E, args);
  const int64_t k = args.top_k;
  const DType dtype = float_dtype(op, backend, "logits", logits);
  check_shape(op, "topk_idx", topk_idx, {N, k});
  check_shape(op, "gates", gates, {N, k});
  check_dtype(op, "topk_idx", topk_idx, DType::I32);
  check_dtype(op, "gates", gates, dtype);
  if (!bias.empty()) {
    check_shape(op, "bias", bias, {E});
    check_dtype(op, "bias", bias, dtype);
  }
  backend.scored_router.scored_router_forward(topk_idx, gates, logits, bias, args);
}

void scored_router_backward(Tensor dlogits, const Tensor& dgates, const Tensor& topk_idx,
                            const Tensor& gates, const Tensor& logits,
                            const ScoredRouterArgs& args) {
  const char* op = "scored_router_backward";
  const Backend& backend = backend_for(op, {&dlogits, &dgates, &topk_idx, &gates, &logits});
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, E), got ", logits.shape.str());
  const int64_t N = logits.size(0), E = logits.size(1);
  check_scored_args(op, E, args);
  const int64_t k = args.top_k;
  const DType dtype = float_dtype(op, backend, "logits", logits);
  check_shape(op, "dlogits", dlogits, {N, E});
  check_shape(op, "dgates", dgates, {N, k});
  check_shape(op, "gates", gates, {N, k});
  check_dtype(op, "dlogits", dlogits, dtype);
  check_dtype(op, "dgates", dgates, dtype);
  check_dtype(op, "gates", gates, dtype);
  check_topk_idx(op, backend, topk_idx, N, k, E);
  backend.scored_router.scored_router_backward(dlogits, dgates, topk_idx, gates, logits, args);
}

void router_load_accumulate(Tensor load, const Tensor& topk_idx) {
  const char* op = "router_load_accumulate";
  const Backend& backend = backend_for(op, {&load, &topk_idx});
  MOE_CHECK(load.shape.ndim == 1, op, ": load must be (E), got ", load.shape.str());
  MOE_CHECK(topk_idx.shape.ndim == 2, op, ": topk_idx must be (N, k), got ", topk_idx.shape.str());
  check_dtype(op, "load", load, DType::F64);
  check_topk_idx(op, backend, topk_idx, topk_idx.size(0), topk_idx.size(1), load.size(0));
  backend.scored_router.router_load_accumulate(load, topk_idx);
}

void router_bias_update(Tensor bias, Tensor load, float gamma) {
  const char* op = "router_bias_update";
  const Backend& backend = backend_for(op, {&bias, &load});
  MOE_CHECK(bias.shape.ndim == 1, op, ": bias must be (E), got ", bias.shape.str());
  MOE_CHECK(gamma >= 0.0f, op, ": gamma = ", gamma, " must be >= 0");
  float_dtype(op, backend, "bias", bias);
  check_shape(op, "load", load, {bias.size(0)});
  check_dtype(op, "load", load, DType::F64);
  backend.scored_router.router_bias_update(bias, load, gamma);
}

}  // namespace moe::ops
