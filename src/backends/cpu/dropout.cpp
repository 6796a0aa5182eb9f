#include "backends/cpu/dropout.h"

#include <cstring>

#include "backends/cpu/parallel.h"
#include "backends/cpu/tensor_data.h"
#include "core/rng.h"

namespace moe::cpu {

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

void dropout_forward(Tensor out, const Tensor& x, float p, uint64_t key) {
  for_dtype(x.dtype,
            [&]<typename T>(T) { dropout_forward(data<T>(out), data<T>(x), x.numel(), p, key); });
}

void dropout_backward(Tensor dx, const Tensor& dout, float p, uint64_t key) {
  for_dtype(dout.dtype, [&]<typename T>(T) {
    dropout_backward(data<T>(dx), data<T>(dout), dout.numel(), p, key);
  });
}

template void dropout_forward<float>(float*, const float*, int64_t, float, uint64_t);
template void dropout_forward<double>(double*, const double*, int64_t, float, uint64_t);
template void dropout_backward<float>(float*, const float*, int64_t, float, uint64_t);
template void dropout_backward<double>(double*, const double*, int64_t, float, uint64_t);

}  // namespace moe::cpu
