#include "ops/adamw.h"

#include "ops/dispatch.h"

namespace moe::ops {

void adamw_update(Tensor param, const Tensor& grad, Tensor m, Tensor v, const AdamWArgs& args) {
  const char* op = "adamw_update";
  const Backend& backend = backend_for(op, {&param, &grad, &m, &v});
  const DType dtype = float_dtype(op, backend, "param", param);
  check_dtype(op, "grad", grad, dtype);
  check_dtype(op, "m", m, dtype);
  check_dtype(op, "v", v, dtype);
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
  backend.optimizer.adamw_update(param, grad, m, v, args);
}

}  // namespace moe::ops
