#include "ops/softmax_xent.h"

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// logits (N, V) of a floating-point dtype, targets (N) I32; returns the dtype.
DType check_logits_targets(const char* op, const Backend& backend, const Tensor& logits,
                           const Tensor& targets) {
  const DType dtype = float_dtype(op, backend, "logits", logits);
  check_dtype(op, "targets", targets, DType::I32);
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, V), got ", logits.shape.str());
  MOE_CHECK(logits.size(1) > 0, op, ": logits has an empty vocabulary dimension");
  check_shape(op, "targets", targets, Shape{logits.size(0)});
  return dtype;
}

// Range check of the targets, before the kernel indexes logits with them (see ops/dispatch.h for
// devices the host cannot read).
void check_target_range(const char* op, const Backend& backend, const Tensor& targets, int64_t V) {
  if (!backend.host_memory) return;
  const int32_t* t = targets.i32();
  for (int64_t i = 0; i < targets.numel(); ++i)
    MOE_CHECK(t[i] >= 0 && t[i] < V, op, ": target ", t[i], " at row ", i,
              " is outside the vocabulary [0, V=", V, ")");
}

}  // namespace

void softmax_xent_forward(Tensor losses, Tensor mean, const Tensor& logits, const Tensor& targets) {
  const char* op = "softmax_xent_forward";
  const Backend& backend = backend_for(op, {&losses, &mean, &logits, &targets});
  const DType dtype = check_logits_targets(op, backend, logits, targets);
  check_dtype(op, "losses", losses, dtype);
  check_shape(op, "losses", losses, Shape{logits.size(0)});
  check_dtype(op, "mean", mean, DType::F64);
  check_shape(op, "mean", mean, {1});
  check_target_range(op, backend, targets, logits.size(1));
  backend.loss.softmax_xent_forward(losses, mean, logits, targets);
}

void softmax_xent_backward(Tensor dlogits, const Tensor& logits, const Tensor& targets,
                           float dloss) {
  const char* op = "softmax_xent_backward";
  const Backend& backend = backend_for(op, {&dlogits, &logits, &targets});
  const DType dtype = check_logits_targets(op, backend, logits, targets);
  check_dtype(op, "dlogits", dlogits, dtype);
  check_shape(op, "dlogits", dlogits, logits.shape);
  check_target_range(op, backend, targets, logits.size(1));
  backend.loss.softmax_xent_backward(dlogits, logits, targets, dloss);
}

void softmax_forward(Tensor probs, const Tensor& logits, float temperature) {
  const char* op = "softmax_forward";
  const Backend& backend = backend_for(op, {&probs, &logits});
  check_dtype(op, "probs", probs, float_dtype(op, backend, "logits", logits));
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, V), got ", logits.shape.str());
  MOE_CHECK(logits.size(1) > 0, op, ": logits has an empty vocabulary dimension");
  check_shape(op, "probs", probs, logits.shape);
  MOE_CHECK(temperature > 0.0f, op, ": temperature must be positive, got ", temperature);
  backend.loss.softmax_forward(probs, logits, temperature);
}

}  // namespace moe::ops
