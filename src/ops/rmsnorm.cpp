#include "ops/rmsnorm.h"

#include "backends/cpu/rmsnorm.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// x (N, C), w (C), rstd (N): all F32.
void check_inputs(const char* op, const Tensor& x, const Tensor& w, const Tensor& rstd) {
  check_dtype(op, "x", x, DType::F32);
  MOE_CHECK(x.shape.ndim == 2, op, ": x must be (N, C), got ", x.shape.str());
  check_dtype(op, "w", w, DType::F32);
  check_shape(op, "w", w, {x.size(1)});
  check_dtype(op, "rstd", rstd, DType::F32);
  check_shape(op, "rstd", rstd, {x.size(0)});
}

// t is F32 with the shape of x.
void check_like_x(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  check_dtype(op, name, t, DType::F32);
  check_shape(op, name, t, x.shape);
}

}  // namespace

void rmsnorm_forward(Tensor out, Tensor rstd, const Tensor& x, const Tensor& w, float eps) {
  const char* op = "rmsnorm_forward";
  check_inputs(op, x, w, rstd);
  check_like_x(op, "out", out, x);
  MOE_CHECK(eps > 0.0f, op, ": eps must be positive, got ", eps);
  switch (common_device(op, {&out, &rstd, &x, &w})) {
    case Device::CPU:
      cpu::rmsnorm_forward(out.f32(), rstd.f32(), x.f32(), w.f32(), x.size(0), x.size(1), eps);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void rmsnorm_backward(Tensor dx, Tensor dw, const Tensor& dout, const Tensor& x, const Tensor& w,
                      const Tensor& rstd) {
  const char* op = "rmsnorm_backward";
  check_inputs(op, x, w, rstd);
  check_like_x(op, "dx", dx, x);
  check_like_x(op, "dout", dout, x);
  check_dtype(op, "dw", dw, DType::F32);
  check_shape(op, "dw", dw, w.shape);
  switch (common_device(op, {&dx, &dw, &dout, &x, &w, &rstd})) {
    case Device::CPU:
      cpu::rmsnorm_backward(dx.f32(), dw.f32(), dout.f32(), x.f32(), w.f32(), rstd.f32(), x.size(0),
                            x.size(1));
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
