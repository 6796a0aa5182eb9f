// CPU kernels for inverted dropout (Srivastava et al. 2014). The mask is regenerated from
// (key, element index), so the backward needs nothing saved from the forward.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void dropout_forward(Tensor out, const Tensor& x, float p, uint64_t key);
void dropout_backward(Tensor dx, const Tensor& dout, float p, uint64_t key);

// The kernels, templated on the scalar type. Element i is kept when
// rng_keep(key, i, dropout_threshold(p)) (core/rng.h), with probability 1 - p.

// out (n) = x (n) * mask / (1 - p); out may alias x. 0 <= p < 1.
template <typename T>
void dropout_forward(T* out, const T* x, int64_t n, float p, uint64_t key);

// dx (n) = dout (n) * mask / (1 - p), the same mask as the forward; dx may alias dout.
template <typename T>
void dropout_backward(T* dx, const T* dout, int64_t n, float p, uint64_t key);

}  // namespace moe::cpu
