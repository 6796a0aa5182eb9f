// CPU kernels for inverted dropout (Srivastava et al. 2014). The mask is regenerated from
// (key, element index), so the backward needs nothing saved from the forward.
#pragma once
#include <cstdint>

#include "core/rng.h"

namespace moe::cpu {

// Element `index` is kept with probability 1 - p (16-bit resolution, core/rng.h rng_keep).
inline bool dropout_keep(uint64_t key, int64_t index, float p) {
  return rng_keep(key, static_cast<uint64_t>(index), dropout_threshold(p));
}

// out (n) = x (n) * mask / (1 - p); out may alias x. 0 <= p < 1.
template <typename T>
void dropout_forward(T* out, const T* x, int64_t n, float p, uint64_t key);

// dx (n) = dout (n) * mask / (1 - p), the same mask as the forward; dx may alias dout.
template <typename T>
void dropout_backward(T* dx, const T* dout, int64_t n, float p, uint64_t key);

}  // namespace moe::cpu
