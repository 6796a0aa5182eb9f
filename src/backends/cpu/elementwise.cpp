#include "backends/cpu/elementwise.h"

#include <algorithm>
#include <cmath>

#include "backends/cpu/memory.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/tensor_data.h"
#include "core/rng.h"

namespace moe::cpu {
namespace {

// sum_squares splits the buffer into this many equal chunks whatever the thread count and adds
// the chunk sums in order, so the result is reproducible.
constexpr int64_t kSumChunks = 64;

}  // namespace

template <typename T>
void fill(T* t, int64_t n, T value) {
  if (value == T(0)) {
    zero_memory(t, static_cast<size_t>(n) * sizeof(T));
    return;
  }
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    t[i] = value;
}

template <typename T>
void add(T* out, const T* a, const T* b, int64_t n) {
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    out[i] = a[i] + b[i];
}

template <typename T>
void add_widened(double* sum, const T* x, int64_t n) {
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    sum[i] += static_cast<double>(x[i]);
}

template <typename T>
void scale_inplace(T* t, int64_t n, T s) {
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    t[i] *= s;
}

template <typename T>
double sum_squares(const T* t, int64_t n) {
  // Each chunk keeps kLanes independent partial sums (so the loop vectorizes) and adds them in a
  // fixed order: the result does not depend on the thread count.
  constexpr int64_t kLanes = 16;
  double partial[kSumChunks];
  const int64_t chunk = (n + kSumChunks - 1) / kSumChunks;
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t k = 0; k < kSumChunks; ++k) {
    const int64_t begin = std::min(n, k * chunk), end = std::min(n, begin + chunk);
    double lanes[kLanes] = {};
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes)
      for (int64_t l = 0; l < kLanes; ++l)
        lanes[l] += static_cast<double>(t[i + l]) * static_cast<double>(t[i + l]);
    for (; i < end; ++i)
      lanes[0] += static_cast<double>(t[i]) * static_cast<double>(t[i]);
    double s = 0;
    for (int64_t l = 0; l < kLanes; ++l)
      s += lanes[l];
    partial[k] = s;
  }
  double total = 0;
  for (int64_t k = 0; k < kSumChunks; ++k)
    total += partial[k];
  return total;
}

template <typename T>
bool all_finite(const T* t, int64_t n) {
  bool ok = true;
#pragma omp parallel for if (n > kParallelMin) reduction(&& : ok)
  for (int64_t i = 0; i < n; ++i)
    ok = ok && std::isfinite(t[i]);
  return ok;
}

template <typename T>
void fill_normal(T* t, int64_t n, float mean, float std, uint64_t key) {
  // Each element takes a log, a square root and a cosine (rng_normal).
#pragma omp parallel for if (n * kTranscendentalWork > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    t[i] = static_cast<T>(mean) +
           static_cast<T>(std) * static_cast<T>(rng_normal(key, static_cast<uint64_t>(i)));
}

template <typename T>
void fill_uniform(T* t, int64_t n, float lo, float hi, uint64_t key) {
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    t[i] = static_cast<T>(lo) + (static_cast<T>(hi) - static_cast<T>(lo)) *
                                    static_cast<T>(rng_uniform(key, static_cast<uint64_t>(i)));
}

void fill(Tensor t, float value) {
  for_dtype(t.dtype, [&]<typename T>(T) { fill(data<T>(t), t.numel(), static_cast<T>(value)); });
}

void add(Tensor out, const Tensor& a, const Tensor& b) {
  for_dtype(a.dtype, [&]<typename T>(T) { add(data<T>(out), data<T>(a), data<T>(b), a.numel()); });
}

void add_widened(Tensor sum, const Tensor& x) {
  for_dtype(x.dtype, [&]<typename T>(T) { add_widened(data<double>(sum), data<T>(x), x.numel()); });
}

void scale_inplace(Tensor t, float s) {
  for_dtype(t.dtype,
            [&]<typename T>(T) { scale_inplace(data<T>(t), t.numel(), static_cast<T>(s)); });
}

void sum_squares(Tensor sum, const Tensor& t) {
  for_dtype(t.dtype,
            [&]<typename T>(T) { *data<double>(sum) = sum_squares(data<T>(t), t.numel()); });
}

void all_finite(Tensor finite, const Tensor& t) {
  for_dtype(t.dtype,
            [&]<typename T>(T) { *data<int32_t>(finite) = all_finite(data<T>(t), t.numel()); });
}

void fill_normal(Tensor t, float mean, float std, uint64_t key) {
  for_dtype(t.dtype, [&]<typename T>(T) { fill_normal(data<T>(t), t.numel(), mean, std, key); });
}

void fill_uniform(Tensor t, float lo, float hi, uint64_t key) {
  for_dtype(t.dtype, [&]<typename T>(T) { fill_uniform(data<T>(t), t.numel(), lo, hi, key); });
}

#define MOE_INSTANTIATE(T)                                           \
  template void fill<T>(T*, int64_t, T);                             \
  template void add<T>(T*, const T*, const T*, int64_t);             \
  template void add_widened<T>(double*, const T*, int64_t);          \
  template void scale_inplace<T>(T*, int64_t, T);                    \
  template double sum_squares<T>(const T*, int64_t);                 \
  template bool all_finite<T>(const T*, int64_t);                    \
  template void fill_normal<T>(T*, int64_t, float, float, uint64_t); \
  template void fill_uniform<T>(T*, int64_t, float, float, uint64_t);
MOE_INSTANTIATE(float)
MOE_INSTANTIATE(double)
#undef MOE_INSTANTIATE

}  // namespace moe::cpu
