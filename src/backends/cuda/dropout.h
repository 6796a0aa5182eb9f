// CUDA kernels for inverted dropout, the same masks as backends/cpu/dropout.h: element i is kept
// when rng_keep(key, i, dropout_threshold(p)) (core/rng.h). Every buffer is (n).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32.
void dropout_forward(Tensor out, const Tensor& x, float p, uint64_t key);
void dropout_backward(Tensor dx, const Tensor& dout, float p, uint64_t key);

}  // namespace moe::cuda
