// AdamW (Loshchilov, Hutter 2019, "Decoupled Weight Decay Regularization"), as torch.optim.AdamW:
// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * wd * p;
// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::ops {

// lr, beta1, beta2, eps, weight_decay and the 1-based step (backends/kernel_args.h).
using moe::AdamWArgs;

// param, grad, m, v: same shape and dtype (F32 or F64); param, m, v updated in place.
void adamw_update(Tensor param, const Tensor& grad, Tensor m, Tensor v, const AdamWArgs& args);

}  // namespace moe::ops
