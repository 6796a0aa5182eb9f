#include "ops/adamw.h"

#include "backends/cpu/adamw.h"
#include "ops/dispatch.h"

namespace moe::ops {

void adamw_update(Tensor param, const Tensor& grad, Tensor m, Tensor v, const AdamWArgs& args) {
  const char* op = "adamw_update";
  check_dtype(op, "param", param, DType::F32);
  check_dtype(op, "grad", grad, DType::F32);
  check_dtype(op, "m", m, DType::F32);
  check_dtype(op, "v", v, DType::F32);
  check_shape(op, "grad", grad, param.shape);
  check_shape(op, "m", m, param.shape);
  check_shape(op, "v", v, param.shape);
  // The ranges torch.optim.AdamW accepts.
  MOE_CHECK(args.step >= 1, op, ": step is 1-based, got ", args.step);
  MOE_CHECK(args.lr >= 0.0f, op, ": lr must be non-negative, got ", args.lr);
  MOE_CHECK(args.beta1 >= 0.0f && args.beta1 < 1.0f, op, ": beta1 must be in [0, 1), got ",
            args.beta1);
  MOE_CHECK(args.beta2 >= 0.0f && args.beta2 < 1.0f, op, ": beta2 must be in [0, 1), got ",
            args.beta2);
  MOE_CHECK(args.eps >= 0.0f, op, ": eps must be non-negative, got ", args.eps);
  MOE_CHECK(args.weight_decay >= 0.0f, op, ": weight_decay must be non-negative, got ",
            args.weight_decay);
  switch (common_device(op, {&param, &grad, &m, &v})) {
    case Device::CPU:
      cpu::adamw_update(param.f32(), grad.f32(), m.f32(), v.f32(), param.numel(), args.lr,
                        args.beta1, args.beta2, args.eps, args.weight_decay, args.step);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
