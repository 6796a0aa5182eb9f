#include "backends/cpu/rope.h"

#include <cmath>
#include <vector>

#include "backends/cpu/parallel.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {
namespace {

// Rotates every (B, T, H) row of x by +angle (sign = 1) or -angle (sign = -1). With
// c = cos(angle), s = sin(angle), HF's `x * cos + rotate_half(x) * sin` gives
//   out[i]        = x[i] c - x[i + D/2] s
//   out[i + D/2]  = x[i + D/2] c + x[i] s
// and its transpose (the backward) is the same map with s negated.
template <typename T>
void rotate(T* out, const T* x, int64_t B, int64_t Tn, int64_t H, int64_t D, int64_t pos_offset,
            float theta, double sign) {
  const int64_t half = D / 2;
  // inv_freq[i] = theta^(-2i/D) (transformers LlamaRotaryEmbedding), in double so the float and
  // double kernels see the same angles up to the final rounding.
  std::vector<double> inv_freq(half);
  for (int64_t i = 0; i < half; ++i)
    inv_freq[i] = std::pow(static_cast<double>(theta), -2.0 * static_cast<double>(i) / D);
  // cos and sin of each position's angles, once for all B sequences and H heads (they were taken
  // per row and took as long as the rotation itself).
  std::vector<T> cos_t(Tn * half), sin_t(Tn * half);  // (Tn, half)
#pragma omp parallel for if (Tn * half > kParallelMin)
  for (int64_t t = 0; t < Tn; ++t) {
    const double pos = static_cast<double>(pos_offset + t);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = pos * inv_freq[i];
      cos_t[t * half + i] = static_cast<T>(std::cos(angle));
      sin_t[t * half + i] = static_cast<T>(sign * std::sin(angle));
    }
  }
#pragma omp parallel for if (B * Tn * H * D > kParallelMin)
  for (int64_t row = 0; row < B * Tn; ++row) {
    const T* c = cos_t.data() + (row % Tn) * half;
    const T* s = sin_t.data() + (row % Tn) * half;
    for (int64_t h = 0; h < H; ++h) {
      const T* xa = x + (row * H + h) * D;
      const T* xb = xa + half;
      T* oa = out + (row * H + h) * D;
      T* ob = oa + half;
#pragma omp simd
      for (int64_t i = 0; i < half; ++i) {
        const T a = xa[i], b = xb[i];
        oa[i] = a * c[i] - b * s[i];
        ob[i] = b * c[i] + a * s[i];
      }
    }
  }
}

}  // namespace

template <typename T>
void rope_forward(T* out, const T* x, int64_t B, int64_t Tn, int64_t H, int64_t D,
                  int64_t pos_offset, float theta) {
  rotate(out, x, B, Tn, H, D, pos_offset, theta, 1.0);
}

template <typename T>
void rope_backward(T* dx, const T* dout, int64_t B, int64_t Tn, int64_t H, int64_t D,
                   int64_t pos_offset, float theta) {
  rotate(dx, dout, B, Tn, H, D, pos_offset, theta, -1.0);
}

void rope_forward(Tensor out, const Tensor& x, int64_t pos_offset, float theta) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    rope_forward(data<T>(out), data<T>(x), x.size(0), x.size(1), x.size(2), x.size(3), pos_offset,
                 theta);
  });
}

void rope_backward(Tensor dx, const Tensor& dout, int64_t pos_offset, float theta) {
  for_dtype(dout.dtype, [&]<typename T>(T) {
    rope_backward(data<T>(dx), data<T>(dout), dout.size(0), dout.size(1), dout.size(2),
                  dout.size(3), pos_offset, theta);
  });
}

template void rope_forward<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                  float);
template void rope_forward<double>(double*, const double*, int64_t, int64_t, int64_t, int64_t,
                                   int64_t, float);
template void rope_backward<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                   int64_t, float);
template void rope_backward<double>(double*, const double*, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, float);

}  // namespace moe::cpu
