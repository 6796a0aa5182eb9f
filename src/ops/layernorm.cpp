#include "ops/layernorm.h"

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// t has the dtype and shape of x.
void check_rows(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  check_dtype(op, name, t, x.dtype);
  check_shape(op, name, t, x.shape);
}

// x (N, C), w (C), b (C) or empty, mean (N), rstd (N): one floating-point dtype.
void check_inputs(const char* op, const Backend& backend, const Tensor& x, const Tensor& w,
                  const char* b_name, const Tensor& b, const Tensor& mean, const Tensor& rstd) {
  const DType dtype = float_dtype(op, backend, "x", x);
  MOE_CHECK(x.shape.ndim == 2, op, ": x must be (N, C), got ", x.shape.str());
  const int64_t N = x.size(0), C = x.size(1);
  check_dtype(op, "w", w, dtype);
  check_shape(op, "w", w, {C});
  if (!b.empty()) {
    check_dtype(op, b_name, b, dtype);
    check_shape(op, b_name, b, {C});
  }
  check_dtype(op, "mean", mean, dtype);
  check_shape(op, "mean", mean, {N});
  check_dtype(op, "rstd", rstd, dtype);
  check_shape(op, "rstd", rstd, {N});
}

}  // namespace

void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, const Tensor& x, const Tensor& w,
                       const Tensor& b, float eps) {
  const char* op = "layernorm_forward";
  const Backend& backend = backend_for(op, {&out, &mean, &rstd, &x, &w, &b});
  check_inputs(op, backend, x, w, "b", b, mean, rstd);
  check_rows(op, "out", out, x);
  MOE_CHECK(eps > 0.0f, op, ": eps must be positive, got ", eps);
  backend.norm.layernorm_forward(out, mean, rstd, x, w, b, eps);
}

void layernorm_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                        const Tensor& w, const Tensor& mean, const Tensor& rstd) {
  const char* op = "layernorm_backward";
  const Backend& backend = backend_for(op, {&dx, &dw, &db, &dout, &x, &w, &mean, &rstd});
  check_inputs(op, backend, x, w, "db", db, mean, rstd);
  check_rows(op, "dx", dx, x);
  check_rows(op, "dout", dout, x);
  check_dtype(op, "dw", dw, x.dtype);
  check_shape(op, "dw", dw, w.shape);
  backend.norm.layernorm_backward(dx, dw, db, dout, x, w, mean, rstd);
}

}  // namespace moe::ops
