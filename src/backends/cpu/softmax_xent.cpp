#include "backends/cpu/softmax_xent.h"

#include <algorithm>
#include <cmath>

#include "backends/cpu/tensor_data.h"

namespace moe::cpu {
namespace {

// Row statistics of x (V) / temperature: max m and sum_j exp(x_j / temperature - m). Subtracting
// the max keeps every exponent <= 0, so nothing overflows (the standard logsumexp trick).
template <typename T>
void row_stats(const T* x, int64_t V, T inv_temperature, T& max, T& sum) {
  max = x[0] * inv_temperature;
  for (int64_t j = 1; j < V; ++j)
    max = std::max(max, x[j] * inv_temperature);
  sum = T(0);
  for (int64_t j = 0; j < V; ++j)
    sum += std::exp(x[j] * inv_temperature - max);
}

}  // namespace

template <typename T>
void softmax_xent_forward(T* losses, const T* logits, const int32_t* targets, int64_t N,
                          int64_t V) {
#pragma omp parallel for
  for (int64_t i = 0; i < N; ++i) {
    const T* row = logits + i * V;
    T max, sum;
    row_stats(row, V, T(1), max, sum);
    // log(sum) - (x_t - max) rather than (max + log(sum)) - x_t: no cancellation between two
    // large numbers when the logits are large.
    losses[i] = std::log(sum) - (row[targets[i]] - max);
  }
}

template <typename T>
void softmax_xent_backward(T* dlogits, const T* logits, const int32_t* targets, T dloss, int64_t N,
                           int64_t V) {
#pragma omp parallel for
  for (int64_t i = 0; i < N; ++i) {
    const T* row = logits + i * V;
    T* drow = dlogits + i * V;
    T max, sum;
    row_stats(row, V, T(1), max, sum);
    const T inv_sum = T(1) / sum;
    // Each element is read before the same element is written, so dlogits may alias logits.
    for (int64_t j = 0; j < V; ++j)
      drow[j] = std::exp(row[j] - max) * inv_sum * dloss;
    drow[targets[i]] -= dloss;
  }
}

template <typename T>
void softmax_forward(T* probs, const T* logits, T temperature, int64_t N, int64_t V) {
  const T inv_temperature = T(1) / temperature;
#pragma omp parallel for
  for (int64_t i = 0; i < N; ++i) {
    const T* row = logits + i * V;
    T* prow = probs + i * V;
    T max, sum;
    row_stats(row, V, inv_temperature, max, sum);
    const T inv_sum = T(1) / sum;
    for (int64_t j = 0; j < V; ++j)
      prow[j] = std::exp(row[j] * inv_temperature - max) * inv_sum;
  }
}

void softmax_xent_forward(Tensor losses, Tensor mean, const Tensor& logits, const Tensor& targets) {
  const int64_t N = logits.size(0);
  for_dtype(logits.dtype, [&]<typename T>(T) {
    const T* row_losses = data<T>(losses);
    softmax_xent_forward(data<T>(losses), data<T>(logits), data<int32_t>(targets), N,
                         logits.size(1));
    // The mean in double, in row order: independent of the thread count.
    double total = 0.0;
    for (int64_t i = 0; i < N; ++i)
      total += row_losses[i];
    *data<double>(mean) = N > 0 ? total / static_cast<double>(N) : 0.0;
  });
}

void softmax_xent_backward(Tensor dlogits, const Tensor& logits, const Tensor& targets,
                           float dloss) {
  for_dtype(logits.dtype, [&]<typename T>(T) {
    softmax_xent_backward(data<T>(dlogits), data<T>(logits), data<int32_t>(targets),
                          static_cast<T>(dloss), logits.size(0), logits.size(1));
  });
}

void softmax_forward(Tensor probs, const Tensor& logits, float temperature) {
  for_dtype(logits.dtype, [&]<typename T>(T) {
    softmax_forward(data<T>(probs), data<T>(logits), static_cast<T>(temperature), logits.size(0),
                    logits.size(1));
  });
}

template void softmax_xent_forward<float>(float*, const float*, const int32_t*, int64_t, int64_t);
template void softmax_xent_forward<double>(double*, const double*, const int32_t*, int64_t,
                                           int64_t);
template void softmax_xent_backward<float>(float*, const float*, const int32_t*, float, int64_t,
                                           int64_t);
template void softmax_xent_backward<double>(double*, const double*, const int32_t*, double, int64_t,
                                            int64_t);
template void softmax_forward<float>(float*, const float*, float, int64_t, int64_t);
template void softmax_forward<double>(double*, const double*, double, int64_t, int64_t);

}  // namespace moe::cpu
