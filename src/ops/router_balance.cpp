#include "ops/router_balance.h"

#include "ops/dispatch.h"

namespace moe::ops {

namespace {

// fraction (S, E) with S >= 1 segments that divide the N rows of a (N, E) tensor.
void check_segments(const char* op, const Tensor& fraction, int64_t N, int64_t E, DType dtype) {
  MOE_CHECK(fraction.shape.ndim == 2, op, ": fraction must be (S, E), got ", fraction.shape.str());
  const int64_t S = fraction.size(0);
  MOE_CHECK(S >= 1 && N % S == 0, op, ": ", S, " segments do not divide ", N, " tokens");
  check_shape(op, "fraction", fraction, {S, E});
  check_dtype(op, "fraction", fraction, dtype);
}

}  // namespace

void segment_fractions(Tensor fraction, const Tensor& topk_idx) {
  const char* op = "segment_fractions";
  const Backend& backend = backend_for(op, {&fraction, &topk_idx});
  MOE_CHECK(topk_idx.shape.ndim == 2, op, ": topk_idx must be (N, k), got ", topk_idx.shape.str());
  MOE_CHECK(fraction.shape.ndim == 2, op, ": fraction must be (S, E), got ", fraction.shape.str());
  const int64_t N = topk_idx.size(0), E = fraction.size(1);
  MOE_CHECK(N >= 1, op, ": topk_idx has no tokens");
  const DType dtype = float_dtype(op, backend, "fraction", fraction);
  check_segments(op, fraction, N, E, dtype);
  check_topk_idx(op, backend, topk_idx, N, topk_idx.size(1), E);
  backend.balance.segment_fractions(fraction, topk_idx);
}

void balance_loss_forward(Tensor loss, const Tensor& scores, const Tensor& fraction) {
  const char* op = "balance_loss_forward";
  const Backend& backend = backend_for(op, {&loss, &scores, &fraction});
  MOE_CHECK(scores.shape.ndim == 2, op, ": scores must be (N, E), got ", scores.shape.str());
  const int64_t N = scores.size(0), E = scores.size(1);
  MOE_CHECK(N >= 1, op, ": scores has no tokens");
  const DType dtype = float_dtype(op, backend, "scores", scores);
  check_segments(op, fraction, N, E, dtype);
  check_shape(op, "loss", loss, {1});
  check_dtype(op, "loss", loss, DType::F64);
  backend.balance.balance_loss_forward(loss, scores, fraction);
}

void balance_loss_backward(Tensor dscores, const Tensor& fraction, float coef) {
  const char* op = "balance_loss_backward";
  const Backend& backend = backend_for(op, {&dscores, &fraction});
  MOE_CHECK(dscores.shape.ndim == 2, op, ": dscores must be (N, E), got ", dscores.shape.str());
  const int64_t N = dscores.size(0), E = dscores.size(1);
  MOE_CHECK(N >= 1, op, ": dscores has no tokens");
  const DType dtype = float_dtype(op, backend, "dscores", dscores);
  check_segments(op, fraction, N, E, dtype);
  backend.balance.balance_loss_backward(dscores, fraction, coef);
}

void softmax_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                      float temperature) {
  const char* op = "softmax_backward";
  const Backend& backend = backend_for(op, {&dlogits, &dprobs, &probs});
  MOE_CHECK(probs.shape.ndim == 2, op, ": probs must be (N, E), got ", probs.shape.str());
  MOE_CHECK(temperature > 0.0f, op, ": temperature = ", temperature, " must be positive");
  const DType dtype = float_dtype(op, backend, "probs", probs);
  check_shape(op, "dprobs", dprobs, probs.shape);
  check_shape(op, "dlogits", dlogits, probs.shape);
  check_dtype(op, "dprobs", dprobs, dtype);
  check_dtype(op, "dlogits", dlogits, dtype);
  backend.balance.softmax_backward(dlogits, dprobs, probs, temperature);
}

void normalized_sigmoid_forward(Tensor probs, const Tensor& logits) {
  const char* op = "normalized_sigmoid_forward";
  const Backend& backend = backend_for(op, {&probs, &logits});
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, E), got ", logits.shape.str());
  const DType dtype = float_dtype(op, backend, "logits", logits);
  check_shape(op, "probs", probs, logits.shape);
  check_dtype(op, "probs", probs, dtype);
  backend.balance.normalized_sigmoid_forward(probs, logits);
}

void normalized_sigmoid_backward(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                                 const Tensor& logits) {
  const char* op = "normalized_sigmoid_backward";
  const Backend& backend = backend_for(op, {&dlogits, &dprobs, &probs, &logits});
  MOE_CHECK(probs.shape.ndim == 2, op, ": probs must be (N, E), got ", probs.shape.str());
  const DType dtype = float_dtype(op, backend, "probs", probs);
  check_shape(op, "dprobs", dprobs, probs.shape);
  check_shape(op, "logits", logits, probs.shape);
  check_shape(op, "dlogits", dlogits, probs.shape);
  check_dtype(op, "dprobs", dprobs, dtype);
  check_dtype(op, "logits", logits, dtype);
  check_dtype(op, "dlogits", dlogits, dtype);
  backend.balance.normalized_sigmoid_backward(dlogits, dprobs, probs, logits);
}

}  // namespace moe::ops
