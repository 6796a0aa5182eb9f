#include "ops/matmul.h"

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// x (N, I) and w (O, I): 2-D tensors of one floating-point dtype that agree on I.
void check_inputs(const char* op, const Backend& backend, const Tensor& x, const Tensor& w) {
  check_dtype(op, "w", w, float_dtype(op, backend, "x", x));
  MOE_CHECK(x.shape.ndim == 2, op, ": x must be (N, in), got ", x.shape.str());
  MOE_CHECK(w.shape.ndim == 2, op, ": w must be (out, in), got ", w.shape.str());
  MOE_CHECK(w.size(1) == x.size(1), op, ": w has shape ", w.shape.str(), " but x has ", x.size(1),
            " input features");
}

// An optional tensor (empty or of the given shape and dtype).
void check_optional(const char* op, const char* arg, const Tensor& t, Shape shape, DType dtype) {
  if (t.empty()) return;
  check_dtype(op, arg, t, dtype);
  check_shape(op, arg, t, shape);
}

}  // namespace

void linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b) {
  const char* op = "linear_forward";
  const Backend& backend = backend_for(op, {&out, &x, &w, &b});
  check_inputs(op, backend, x, w);
  const int64_t N = x.size(0), O = w.size(0);
  check_dtype(op, "out", out, x.dtype);
  check_shape(op, "out", out, {N, O});
  check_optional(op, "b", b, {O}, x.dtype);
  backend.linear.linear_forward(out, x, w, b);
}

void linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                     const Tensor& w) {
  const char* op = "linear_backward";
  const Backend& backend = backend_for(op, {&dx, &dw, &db, &dout, &x, &w});
  check_inputs(op, backend, x, w);
  const int64_t N = x.size(0), O = w.size(0);
  check_dtype(op, "dout", dout, x.dtype);
  check_shape(op, "dout", dout, {N, O});
  check_dtype(op, "dw", dw, x.dtype);
  check_shape(op, "dw", dw, w.shape);
  check_optional(op, "dx", dx, x.shape, x.dtype);
  check_optional(op, "db", db, {O}, x.dtype);
  backend.linear.linear_backward(dx, dw, db, dout, x, w);
}

}  // namespace moe::ops
