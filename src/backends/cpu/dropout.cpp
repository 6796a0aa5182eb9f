#include "backends/cpu/dropout.h"

#include <cstring>

namespace moe::cpu {
namespace {

// Below this many elements a loop runs on one thread: starting a team costs more than it saves.
constexpr int64_t kParallelMin = int64_t{1} << 15;

}  // namespace

template <typename T>
void dropout_forward(T* out, const T* x, int64_t n, float p, uint64_t key) {
  if (p == 0.0f) {
    if (out != x) std::memcpy(out, x, static_cast<size_t>(n) * sizeof(T));
    return;
  }
  const T scale = static_cast<T>(1.0 / (1.0 - static_cast<double>(p)));
  const uint32_t threshold = dropout_threshold(p);
  // Each element recomputes its block's draw (rng_keep): that costs a few more multiplies than
  // sharing one draw per four elements, but the loop has no carried state, so it vectorizes.
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    out[i] = rng_keep(key, static_cast<uint64_t>(i), threshold) ? x[i] * scale : T(0);
}

// The map is linear and diagonal, so its transpose is itself.
template <typename T>
void dropout_backward(T* dx, const T* dout, int64_t n, float p, uint64_t key) {
  dropout_forward(dx, dout, n, p, key);
}

template void dropout_forward<float>(float*, const float*, int64_t, float, uint64_t);
template void dropout_forward<double>(double*, const double*, int64_t, float, uint64_t);
template void dropout_backward<float>(float*, const float*, int64_t, float, uint64_t);
template void dropout_backward<double>(double*, const double*, int64_t, float, uint64_t);

}  // namespace moe::cpu
