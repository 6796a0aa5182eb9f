// AdamW (Loshchilov, Hutter 2019, "Decoupled Weight Decay Regularization"), as torch.optim.AdamW:
// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * wd * p;
// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::ops {

struct AdamWArgs {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  int64_t step = 1;  // 1-based, for bias correction
};

// param, grad, m, v: same shape; param, m, v updated in place.
void adamw_update(Tensor param, const Tensor& grad, Tensor m, Tensor v, const AdamWArgs& args);

}  // namespace moe::ops
