// The logistic function of the router kernels (sigmoid scores, softplus' derivative).
#pragma once
#include <cmath>

namespace moe::cpu {

// sigmoid(x) = 1 / (1 + e^-x), evaluated so that exp never overflows.
template <typename T>
T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

}  // namespace moe::cpu
