#include "backends/cpu/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "core/threads.h"

namespace moe::cpu {
namespace {

// Below this many elements a loop runs on one thread: starting a team costs more than it saves.
constexpr int64_t kParallelMin = int64_t{1} << 15;

// sum_squares splits the buffer into this many equal chunks whatever the thread count and adds
// the chunk sums in order, so the result is reproducible.
constexpr int64_t kSumChunks = 64;

}  // namespace

template <typename T>
void fill(T* t, int64_t n, T value) {
  if (value == T(0)) {
    // Zeroing (the gradients at every step) goes through memset, which writes large buffers with
    // streaming stores that skip reading the old contents; each thread clears one slice.
    const int64_t slices = n > kParallelMin ? num_threads() : 1;
#pragma omp parallel for if (slices > 1)
    for (int64_t k = 0; k < slices; ++k) {
      const int64_t begin = n * k / slices, end = n * (k + 1) / slices;
      std::memset(t + begin, 0, static_cast<size_t>(end - begin) * sizeof(T));
    }
    return;
  }
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    t[i] = value;
}

template <typename T>
void copy(T* dst, const T* src, int64_t n) {
  if (dst == src || n == 0) return;
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
}

template <typename T>
void add(T* out, const T* a, const T* b, int64_t n) {
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    out[i] = a[i] + b[i];
}

template <typename T>
void add_inplace(T* a, const T* b, int64_t n) {
  add(a, a, b, n);
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
#pragma omp parallel for if (n > kParallelMin)
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

#define MOE_INSTANTIATE(T)                                           \
  template void fill<T>(T*, int64_t, T);                             \
  template void copy<T>(T*, const T*, int64_t);                      \
  template void add<T>(T*, const T*, const T*, int64_t);             \
  template void add_inplace<T>(T*, const T*, int64_t);               \
  template void scale_inplace<T>(T*, int64_t, T);                    \
  template double sum_squares<T>(const T*, int64_t);                 \
  template bool all_finite<T>(const T*, int64_t);                    \
  template void fill_normal<T>(T*, int64_t, float, float, uint64_t); \
  template void fill_uniform<T>(T*, int64_t, float, float, uint64_t);
MOE_INSTANTIATE(float)
MOE_INSTANTIATE(double)
#undef MOE_INSTANTIATE

// Token buffers (I32) are copied too.
template void copy<int32_t>(int32_t*, const int32_t*, int64_t);

}  // namespace moe::cpu
