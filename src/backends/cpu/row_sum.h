// The sum along one row of a normalisation kernel (LayerNorm, RMSNorm), in double.
#pragma once
#include <cstdint>

namespace moe::cpu {

// sum_c term(c) over c in [0, C), in double. Eight accumulators, each taking every eighth term,
// added together at the end: one running sum is a chain of C dependent additions, eight
// independent ones fill a SIMD register (a LayerNorm row of 128 channels took that chain's
// latency three times over). The order is fixed, so the result does not depend on threads.
template <typename Term>
double row_sum(int64_t C, const Term& term) {
  constexpr int64_t kLanes = 8;
  double acc[kLanes] = {};
  int64_t c = 0;
  for (; c + kLanes <= C; c += kLanes)
    for (int64_t l = 0; l < kLanes; ++l)
      acc[l] += term(c + l);
  for (; c < C; ++c)
    acc[0] += term(c);
  double sum = 0;
  for (int64_t l = 0; l < kLanes; ++l)
    sum += acc[l];
  return sum;
}

}  // namespace moe::cpu
