#include "ops/matmul.h"

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// x (N, I) and w (O, I): 2-D tensors of one GEMM input dtype that agree on I; returns it.
DType check_inputs(const char* op, const Backend& backend, const Tensor& x, const Tensor& w) {
  const DType input = gemm_input_dtype(op, backend, "x", x);
  check_dtype(op, "w", w, input);
  MOE_CHECK(x.shape.ndim == 2, op, ": x must be (N, in), got ", x.shape.str());
  MOE_CHECK(w.shape.ndim == 2, op, ": w must be (out, in), got ", w.shape.str());
  MOE_CHECK(w.size(1) == x.size(1), op, ": w has shape ", w.shape.str(), " but x has ", x.size(1),
            " input features");
  return input;
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
  const DType input = check_inputs(op, backend, x, w), output = gemm_output_dtype(input);
  const int64_t N = x.size(0), O = w.size(0);
  check_dtype(op, "out", out, output);
  check_shape(op, "out", out, {N, O});
  check_optional(op, "b", b, {O}, output);
  linear_kernels(backend, input).linear_forward(out, x, w, b);
}

void linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                     const Tensor& w, InputGrad dx_mode) {
  const char* op = "linear_backward";
  const Backend& backend = backend_for(op, {&dx, &dw, &db, &dout, &x, &w});
  const DType input = check_inputs(op, backend, x, w), output = gemm_output_dtype(input);
  const int64_t N = x.size(0), O = w.size(0);
  check_dtype(op, "dout", dout, input);
  check_shape(op, "dout", dout, {N, O});
  check_dtype(op, "dw", dw, output);
  check_shape(op, "dw", dw, w.shape);
  check_optional(op, "dx", dx, x.shape, output);
  check_optional(op, "db", db, {O}, output);
  linear_kernels(backend, input).linear_backward(dx, dw, db, dout, x, w, dx_mode);
}

}  // namespace moe::ops
