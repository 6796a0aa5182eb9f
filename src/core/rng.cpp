#include "core/rng.h"

#include <cmath>

namespace moe {

float rng_normal(uint64_t key, uint64_t index) {
  // Two 32-bit uniforms from one 64-bit draw; u1 in (0, 1] so log(u1) is finite.
  uint64_t bits = rng_bits(key, index);
  double u1 = (static_cast<double>(bits >> 32) + 1.0) * (1.0 / 4294967296.0);
  double u2 = static_cast<double>(bits & 0xFFFFFFFFull) * (1.0 / 4294967296.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

}  // namespace moe
