#include "backends/cpu/adamw.h"

#include <cmath>

#include "backends/cpu/parallel.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {

template <typename T>
void adamw_update(T* param, const T* grad, T* m, T* v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int64_t step) {
  // The per-step scalars as torch's _single_tensor_adamw forms them: step_size = lr / bc1 and
  // the denominator sqrt(v) / sqrt(bc2) + eps, so eps is added after the bias correction.
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const T step_size = static_cast<T>(lr / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T decay = static_cast<T>(1.0 - static_cast<double>(lr) * weight_decay);
  const T b1 = beta1, b2 = beta2, e = eps;
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i];
    const T mi = b1 * m[i] + (T(1) - b1) * g;
    const T vi = b2 * v[i] + (T(1) - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + e));
  }
}

void adamw_update(Tensor param, const Tensor& grad, Tensor m, Tensor v, const AdamWArgs& args) {
  for_dtype(param.dtype, [&]<typename T>(T) {
    adamw_update(data<T>(param), data<T>(grad), data<T>(m), data<T>(v), param.numel(), args.lr,
                 args.beta1, args.beta2, args.eps, args.weight_decay, args.step);
  });
}

template void adamw_update<float>(float*, const float*, float*, float*, int64_t, float, float,
                                  float, float, float, int64_t);
template void adamw_update<double>(double*, const double*, double*, double*, int64_t, float, float,
                                   float, float, float, int64_t);

}  // namespace moe::cpu
