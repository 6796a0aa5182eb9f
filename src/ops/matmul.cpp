#include "ops/matmul.h"

#include "backends/cpu/matmul.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// x (N, I) and w (O, I): 2-D F32 tensors that agree on I.
void check_inputs(const char* op, const Tensor& x, const Tensor& w) {
  check_dtype(op, "x", x, DType::F32);
  check_dtype(op, "w", w, DType::F32);
  MOE_CHECK(x.shape.ndim == 2, op, ": x must be (N, in), got ", x.shape.str());
  MOE_CHECK(w.shape.ndim == 2, op, ": w must be (out, in), got ", w.shape.str());
  MOE_CHECK(w.size(1) == x.size(1), op, ": w has shape ", w.shape.str(), " but x has ", x.size(1),
            " input features");
}

}  // namespace

void linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b) {
  const char* op = "linear_forward";
  check_inputs(op, x, w);
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  check_dtype(op, "out", out, DType::F32);
  check_shape(op, "out", out, {N, O});
  if (!b.empty()) {
    check_dtype(op, "b", b, DType::F32);
    check_shape(op, "b", b, {O});
  }
  switch (common_device(op, {&out, &x, &w, &b})) {
    case Device::CPU:
      cpu::linear_forward(out.f32(), x.f32(), w.f32(), b.empty() ? nullptr : b.f32(), N, I, O);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                     const Tensor& w) {
  const char* op = "linear_backward";
  check_inputs(op, x, w);
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  check_dtype(op, "dout", dout, DType::F32);
  check_shape(op, "dout", dout, {N, O});
  check_dtype(op, "dw", dw, DType::F32);
  check_shape(op, "dw", dw, w.shape);
  if (!dx.empty()) {
    check_dtype(op, "dx", dx, DType::F32);
    check_shape(op, "dx", dx, x.shape);
  }
  if (!db.empty()) {
    check_dtype(op, "db", db, DType::F32);
    check_shape(op, "db", db, {O});
  }
  switch (common_device(op, {&dx, &dw, &db, &dout, &x, &w})) {
    case Device::CPU:
      cpu::linear_backward(dx.empty() ? nullptr : dx.f32(), dw.f32(),
                           db.empty() ? nullptr : db.f32(), dout.f32(), x.f32(), w.f32(), N, I, O);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
