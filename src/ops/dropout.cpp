#include "ops/dropout.h"

#include "backends/cpu/dropout.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// out is F32 with the shape of in, and p is a drop probability the 1/(1-p) scale allows.
void check_dropout(const char* op, const char* out_name, const Tensor& out, const char* in_name,
                   const Tensor& in, float p) {
  check_dtype(op, in_name, in, DType::F32);
  check_dtype(op, out_name, out, DType::F32);
  check_shape(op, out_name, out, in.shape);
  MOE_CHECK(p >= 0.0f && p < 1.0f, op, ": dropout probability must be in [0, 1), got ", p);
}

}  // namespace

bool dropout_keep(uint64_t key, int64_t index, float p) {
  return cpu::dropout_keep(key, index, p);
}

void dropout_forward(Tensor out, const Tensor& x, float p, uint64_t key) {
  const char* op = "dropout_forward";
  check_dropout(op, "out", out, "x", x, p);
  switch (common_device(op, {&out, &x})) {
    case Device::CPU:
      cpu::dropout_forward(out.f32(), x.f32(), x.numel(), p, key);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void dropout_backward(Tensor dx, const Tensor& dout, float p, uint64_t key) {
  const char* op = "dropout_backward";
  check_dropout(op, "dx", dx, "dout", dout, p);
  switch (common_device(op, {&dx, &dout})) {
    case Device::CPU:
      cpu::dropout_backward(dx.f32(), dout.f32(), dout.numel(), p, key);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
