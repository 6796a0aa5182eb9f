#include "ops/layernorm.h"

#include "backends/cpu/layernorm.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// t is F32 with the shape of x.
void check_rows(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  check_dtype(op, name, t, DType::F32);
  check_shape(op, name, t, x.shape);
}

// x (N, C), w (C), b (C) or empty, mean (N), rstd (N): all F32.
void check_inputs(const char* op, const Tensor& x, const Tensor& w, const char* b_name,
                  const Tensor& b, const Tensor& mean, const Tensor& rstd) {
  check_dtype(op, "x", x, DType::F32);
  MOE_CHECK(x.shape.ndim == 2, op, ": x must be (N, C), got ", x.shape.str());
  const int64_t N = x.size(0), C = x.size(1);
  check_dtype(op, "w", w, DType::F32);
  check_shape(op, "w", w, {C});
  if (!b.empty()) {
    check_dtype(op, b_name, b, DType::F32);
    check_shape(op, b_name, b, {C});
  }
  check_dtype(op, "mean", mean, DType::F32);
  check_shape(op, "mean", mean, {N});
  check_dtype(op, "rstd", rstd, DType::F32);
  check_shape(op, "rstd", rstd, {N});
}

}  // namespace

void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, const Tensor& x, const Tensor& w,
                       const Tensor& b, float eps) {
  const char* op = "layernorm_forward";
  check_inputs(op, x, w, "b", b, mean, rstd);
  check_rows(op, "out", out, x);
  MOE_CHECK(eps > 0.0f, op, ": eps must be positive, got ", eps);
  switch (common_device(op, {&out, &mean, &rstd, &x, &w, &b})) {
    case Device::CPU:
      cpu::layernorm_forward(out.f32(), mean.f32(), rstd.f32(), x.f32(), w.f32(),
                             b.empty() ? nullptr : b.f32(), x.size(0), x.size(1), eps);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void layernorm_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                        const Tensor& w, const Tensor& mean, const Tensor& rstd) {
  const char* op = "layernorm_backward";
  check_inputs(op, x, w, "db", db, mean, rstd);
  check_rows(op, "dx", dx, x);
  check_rows(op, "dout", dout, x);
  check_dtype(op, "dw", dw, DType::F32);
  check_shape(op, "dw", dw, w.shape);
  switch (common_device(op, {&dx, &dw, &db, &dout, &x, &w, &mean, &rstd})) {
    case Device::CPU:
      cpu::layernorm_backward(dx.f32(), dw.f32(), db.empty() ? nullptr : db.f32(), dout.f32(),
                              x.f32(), w.f32(), mean.f32(), rstd.f32(), x.size(0), x.size(1));
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
