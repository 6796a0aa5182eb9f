#include "ops/grouped_gemm.h"

#include "ops/dispatch.h"

namespace moe::ops {

namespace {

struct Dims {
  int64_t M, I, O, E;
  DType input, output;  // of the GEMM inputs and outputs (ops/dispatch.h)
};

// Shapes shared by forward and backward: x (M, I), w (E, O, I) of x's GEMM input dtype,
// expert_offsets (E+1) I32 partitioning the M rows.
Dims check_common(const char* op, const Backend& backend, const Tensor& x, const Tensor& w,
                  const Tensor& expert_offsets) {
  MOE_CHECK(x.shape.ndim == 2, op, ": x must be (M, I), got ", x.shape.str());
  MOE_CHECK(w.shape.ndim == 3, op, ": w must be (E, O, I), got ", w.shape.str());
  const DType input = gemm_input_dtype(op, backend, "x", x);
  const Dims d{x.size(0), x.size(1), w.size(1), w.size(0), input, gemm_output_dtype(input)};
  check_shape(op, "w", w, {d.E, d.O, d.I});
  check_shape(op, "expert_offsets", expert_offsets, {d.E + 1});
  check_dtype(op, "w", w, input);
  check_dtype(op, "expert_offsets", expert_offsets, DType::I32);
  // The offsets decide which memory each GEMM touches.
  check_expert_offsets(op, backend, expert_offsets, d.M);
  return d;
}

// An optional tensor (empty or of the given shape and dtype).
void check_optional(const char* op, const char* arg, const Tensor& t, Shape shape, DType dtype) {
  if (t.empty()) return;
  check_shape(op, arg, t, shape);
  check_dtype(op, arg, t, dtype);
}

}  // namespace

void grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                            const Tensor& expert_offsets) {
  const char* op = "grouped_linear_forward";
  const Backend& backend = backend_for(op, {&out, &x, &w, &b, &expert_offsets});
  const Dims d = check_common(op, backend, x, w, expert_offsets);
  check_shape(op, "out", out, {d.M, d.O});
  check_dtype(op, "out", out, d.output);
  check_optional(op, "b", b, {d.E, d.O}, d.output);
  linear_kernels(backend, d.input).grouped_linear_forward(out, x, w, b, expert_offsets);
}

void grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                             const Tensor& w, const Tensor& expert_offsets, InputGrad dx_mode) {
  const char* op = "grouped_linear_backward";
  const Backend& backend = backend_for(op, {&dx, &dw, &db, &dout, &x, &w, &expert_offsets});
  const Dims d = check_common(op, backend, x, w, expert_offsets);
  check_shape(op, "dout", dout, {d.M, d.O});
  check_shape(op, "dw", dw, {d.E, d.O, d.I});
  check_dtype(op, "dout", dout, d.input);
  check_dtype(op, "dw", dw, d.output);
  check_optional(op, "dx", dx, {d.M, d.I}, d.output);
  check_optional(op, "db", db, {d.E, d.O}, d.output);
  linear_kernels(backend, d.input)
      .grouped_linear_backward(dx, dw, db, dout, x, w, expert_offsets, dx_mode);
}

}  // namespace moe::ops
