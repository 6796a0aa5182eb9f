#include "ops/rmsnorm.h"

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// x (N, C), w (C), rstd (N): one floating-point dtype.
void check_inputs(const char* op, const Backend& backend, const Tensor& x, const Tensor& w,
                  const Tensor& rstd) {
  const DType dtype = float_dtype(op, backend, "x", x);
  MOE_CHECK(x.shape.ndim == 2, op, ": x must be (N, C), got ", x.shape.str());
  check_dtype(op, "w", w, dtype);
  check_shape(op, "w", w, {x.size(1)});
  check_dtype(op, "rstd", rstd, dtype);
  check_shape(op, "rstd", rstd, {x.size(0)});
}

// t has the dtype and shape of x.
void check_like_x(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  check_dtype(op, name, t, x.dtype);
  check_shape(op, name, t, x.shape);
}

}  // namespace

void rmsnorm_forward(Tensor out, Tensor rstd, const Tensor& x, const Tensor& w, float eps) {
  const char* op = "rmsnorm_forward";
  const Backend& backend = backend_for(op, {&out, &rstd, &x, &w});
  check_inputs(op, backend, x, w, rstd);
  check_like_x(op, "out", out, x);
  MOE_CHECK(eps > 0.0f, op, ": eps must be positive, got ", eps);
  backend.norm.rmsnorm_forward(out, rstd, x, w, eps);
}

void rmsnorm_backward(Tensor dx, Tensor dw, const Tensor& dout, const Tensor& x, const Tensor& w,
                      const Tensor& rstd) {
  const char* op = "rmsnorm_backward";
  const Backend& backend = backend_for(op, {&dx, &dw, &dout, &x, &w, &rstd});
  check_inputs(op, backend, x, w, rstd);
  check_like_x(op, "dx", dx, x);
  check_like_x(op, "dout", dout, x);
  check_dtype(op, "dw", dw, x.dtype);
  check_shape(op, "dw", dw, w.shape);
  backend.norm.rmsnorm_backward(dx, dw, dout, x, w, rstd);
}

}  // namespace moe::ops
