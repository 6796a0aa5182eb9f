// Inverted dropout (Srivastava et al. 2014): keep with probability 1 - p and scale by 1/(1 - p).
// The mask is a pure function of (key, element index) so backward regenerates it instead of
// storing it, and it is the same for any thread count.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::ops {

// True when element `index` is kept under (key, p).
bool dropout_keep(uint64_t key, int64_t index, float p);

// out = x * mask / (1 - p); any shape; out may alias x. p == 0 copies.
void dropout_forward(Tensor out, const Tensor& x, float p, uint64_t key);
// dx = dout * mask / (1 - p); dx may alias dout.
void dropout_backward(Tensor dx, const Tensor& dout, float p, uint64_t key);

}  // namespace moe::ops
