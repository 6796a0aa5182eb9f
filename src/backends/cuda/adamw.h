// CUDA kernel for the AdamW update (Loshchilov & Hutter 2019, decoupled weight decay), the same
// results as backends/cpu/adamw.h: param, grad, m, v (n).
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cuda {

// Table entry (backends/backend.h), F32.
void adamw_update(Tensor param, const Tensor& grad, Tensor m, Tensor v, const AdamWArgs& args);

}  // namespace moe::cuda
