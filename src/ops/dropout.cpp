#include "ops/dropout.h"

#include "core/rng.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// out has the dtype and shape of in, and p is a drop probability the 1/(1-p) scale allows.
void check_dropout(const char* op, const Backend& backend, const char* out_name, const Tensor& out,
                   const char* in_name, const Tensor& in, float p) {
  check_dtype(op, out_name, out, float_dtype(op, backend, in_name, in));
  check_shape(op, out_name, out, in.shape);
  MOE_CHECK(p >= 0.0f && p < 1.0f, op, ": dropout probability must be in [0, 1), got ", p);
}

}  // namespace

bool dropout_keep(uint64_t key, int64_t index, float p) {
  return rng_keep(key, static_cast<uint64_t>(index), dropout_threshold(p));
}

void dropout_forward(Tensor out, const Tensor& x, float p, uint64_t key) {
  const char* op = "dropout_forward";
  const Backend& backend = backend_for(op, {&out, &x});
  check_dropout(op, backend, "out", out, "x", x, p);
  backend.activation.dropout_forward(out, x, p, key);
}

void dropout_backward(Tensor dx, const Tensor& dout, float p, uint64_t key) {
  const char* op = "dropout_backward";
  const Backend& backend = backend_for(op, {&dx, &dout});
  check_dropout(op, backend, "dx", dx, "dout", dout, p);
  backend.activation.dropout_backward(dx, dout, p, key);
}

}  // namespace moe::ops
