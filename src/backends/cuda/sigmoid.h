// The logistic function of the router kernels (sigmoid scores, softplus' derivative), the same
// evaluation as backends/cpu/sigmoid.h.
#pragma once
#include <cmath>

namespace moe::cuda {

// sigmoid(x) = 1 / (1 + e^-x), evaluated so that exp never overflows; float or double.
template <typename T>
__device__ T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  const T e = exp(x);
  return e / (T(1) + e);
}

}  // namespace moe::cuda
