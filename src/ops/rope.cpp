#include "ops/rope.h"

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

void check_rope(const char* op, const Backend& backend, const char* out_name, const Tensor& out,
                const char* in_name, const Tensor& in, float theta) {
  check_dtype(op, out_name, out, float_dtype(op, backend, in_name, in));
  MOE_CHECK(in.shape.ndim == 4, op, ": ", in_name, " must be (B, T, H, D), got ", in.shape.str());
  check_shape(op, out_name, out, in.shape);
  MOE_CHECK(in.size(3) % 2 == 0, op, ": head size D=", in.size(3),
            " must be even (rotate-half pairs i with i + D/2)");
  MOE_CHECK(theta > 0.0f, op, ": theta must be positive, got ", theta);
}

}  // namespace

void rope_forward(Tensor out, const Tensor& x, int64_t pos_offset, float theta) {
  const char* op = "rope_forward";
  const Backend& backend = backend_for(op, {&out, &x});
  check_rope(op, backend, "out", out, "x", x, theta);
  backend.embedding.rope_forward(out, x, pos_offset, theta);
}

void rope_backward(Tensor dx, const Tensor& dout, int64_t pos_offset, float theta) {
  const char* op = "rope_backward";
  const Backend& backend = backend_for(op, {&dx, &dout});
  check_rope(op, backend, "dx", dx, "dout", dout, theta);
  backend.embedding.rope_backward(dx, dout, pos_offset, theta);
}

}  // namespace moe::ops
