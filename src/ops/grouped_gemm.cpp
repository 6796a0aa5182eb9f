#include "ops/grouped_gemm.h"

#include "backends/cpu/grouped_gemm.h"
#include "ops/dispatch.h"

namespace moe::ops {

namespace {

struct Dims {
  int64_t M, I, O, E;
};

// Shapes shared by forward and backward: x (M, I), w (E, O, I), expert_offsets (E+1) I32.
Dims check_common(const char* op, const Tensor& x, const Tensor& w, const Tensor& expert_offsets) {
  MOE_CHECK(x.shape.ndim == 2, op, ": x must be (M, I), got ", x.shape.str());
  MOE_CHECK(w.shape.ndim == 3, op, ": w must be (E, O, I), got ", w.shape.str());
  const Dims d{x.size(0), x.size(1), w.size(1), w.size(0)};
  check_shape(op, "w", w, {d.E, d.O, d.I});
  check_shape(op, "expert_offsets", expert_offsets, {d.E + 1});
  check_dtype(op, "x", x, DType::F32);
  check_dtype(op, "w", w, DType::F32);
  check_dtype(op, "expert_offsets", expert_offsets, DType::I32);
  return d;
}

}  // namespace

void grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                            const Tensor& expert_offsets) {
  const char* op = "grouped_linear_forward";
  const Dims d = check_common(op, x, w, expert_offsets);
  check_shape(op, "out", out, {d.M, d.O});
  check_dtype(op, "out", out, DType::F32);
  if (!b.empty()) {
    check_shape(op, "b", b, {d.E, d.O});
    check_dtype(op, "b", b, DType::F32);
  }
  switch (common_device(op, {&out, &x, &w, &b, &expert_offsets})) {
    case Device::CPU:
      cpu::grouped_linear_forward<float>(out.f32(), x.f32(), w.f32(), b.empty() ? nullptr : b.f32(),
                                         expert_offsets.i32(), d.M, d.I, d.O, d.E);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                             const Tensor& w, const Tensor& expert_offsets) {
  const char* op = "grouped_linear_backward";
  const Dims d = check_common(op, x, w, expert_offsets);
  check_shape(op, "dout", dout, {d.M, d.O});
  check_shape(op, "dw", dw, {d.E, d.O, d.I});
  check_dtype(op, "dout", dout, DType::F32);
  check_dtype(op, "dw", dw, DType::F32);
  if (!dx.empty()) {
    check_shape(op, "dx", dx, {d.M, d.I});
    check_dtype(op, "dx", dx, DType::F32);
  }
  if (!db.empty()) {
    check_shape(op, "db", db, {d.E, d.O});
    check_dtype(op, "db", db, DType::F32);
  }
  switch (common_device(op, {&dx, &dw, &db, &dout, &x, &w, &expert_offsets})) {
    case Device::CPU:
      cpu::grouped_linear_backward<float>(dx.empty() ? nullptr : dx.f32(), dw.f32(),
                                          db.empty() ? nullptr : db.f32(), dout.f32(), x.f32(),
                                          w.f32(), expert_offsets.i32(), d.M, d.I, d.O, d.E);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
