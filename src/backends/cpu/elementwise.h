// CPU kernels for small elementwise and reduction helpers. n is the element count of every
// buffer; each buffer is (n).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void fill(Tensor t, float value);
void add(Tensor out, const Tensor& a, const Tensor& b);
void add_widened(Tensor sum, const Tensor& x);
void scale_inplace(Tensor t, float s);
void sum_squares(Tensor sum, const Tensor& t);
void all_finite(Tensor finite, const Tensor& t);
void fill_normal(Tensor t, float mean, float std, uint64_t key);
void fill_uniform(Tensor t, float lo, float hi, uint64_t key);

// The kernels, templated on the scalar type.
// t (n) = value
template <typename T>
void fill(T* t, int64_t n, T value);
// out (n) = a (n) + b (n); out may alias a or b.
template <typename T>
void add(T* out, const T* a, const T* b, int64_t n);
// sum (n) += x (n) in fp64
template <typename T>
void add_widened(double* sum, const T* x, int64_t n);
// t (n) *= s
template <typename T>
void scale_inplace(T* t, int64_t n, T s);
// sum of t (n)^2 in fp64, summed in a fixed order whatever the thread count.
template <typename T>
double sum_squares(const T* t, int64_t n);
// True when every element of t (n) is finite.
template <typename T>
bool all_finite(const T* t, int64_t n);
// t (n)[i] = mean + std * rng_normal(key, i)
template <typename T>
void fill_normal(T* t, int64_t n, float mean, float std, uint64_t key);
// t (n)[i] = lo + (hi - lo) * rng_uniform(key, i)
template <typename T>
void fill_uniform(T* t, int64_t n, float lo, float hi, uint64_t key);

}  // namespace moe::cpu
