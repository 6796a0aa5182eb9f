// CPU kernel for AdamW (Loshchilov, Hutter 2019), with torch.optim.AdamW's update order:
// p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
#pragma once
#include <cstdint>

#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cpu {

// Table entry (backends/backend.h), F32 or F64.
void adamw_update(Tensor param, const Tensor& grad, Tensor m, Tensor v, const AdamWArgs& args);

// The kernel, templated on the scalar type.

// param (n), m (n), v (n) updated in place; grad (n). step is 1-based.
template <typename T>
void adamw_update(T* param, const T* grad, T* m, T* v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int64_t step);

}  // namespace moe::cpu
