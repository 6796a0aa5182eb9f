#include "ops/rope.h"

#include "backends/cpu/rope.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

void check_rope(const char* op, const char* out_name, const Tensor& out, const char* in_name,
                const Tensor& in, float theta) {
  check_dtype(op, in_name, in, DType::F32);
  check_dtype(op, out_name, out, DType::F32);
  MOE_CHECK(in.shape.ndim == 4, op, ": ", in_name, " must be (B, T, H, D), got ", in.shape.str());
  check_shape(op, out_name, out, in.shape);
  MOE_CHECK(in.size(3) % 2 == 0, op, ": head size D=", in.size(3),
            " must be even (rotate-half pairs i with i + D/2)");
  MOE_CHECK(theta > 0.0f, op, ": theta must be positive, got ", theta);
}

}  // namespace

void rope_forward(Tensor out, const Tensor& x, int64_t pos_offset, float theta) {
  const char* op = "rope_forward";
  check_rope(op, "out", out, "x", x, theta);
  switch (common_device(op, {&out, &x})) {
    case Device::CPU:
      cpu::rope_forward(out.f32(), x.f32(), x.size(0), x.size(1), x.size(2), x.size(3), pos_offset,
                        theta);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void rope_backward(Tensor dx, const Tensor& dout, int64_t pos_offset, float theta) {
  const char* op = "rope_backward";
  check_rope(op, "dx", dx, "dout", dout, theta);
  switch (common_device(op, {&dx, &dout})) {
    case Device::CPU:
      cpu::rope_backward(dx.f32(), dout.f32(), dout.size(0), dout.size(1), dout.size(2),
                         dout.size(3), pos_offset, theta);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
