// Shared helpers for op tests: random data, relative error, and finite-difference gradients.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace moe::testing {

template <typename T>
std::vector<T> random_vector(size_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v)
    x = static_cast<T>(dist(gen));
  return v;
}

// ||a - b|| / max(||b||, tiny): the norm-wise relative error.
template <typename A, typename B>
double rel_error(const std::vector<A>& a, const std::vector<B>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// Central differences of a scalar function of x (fp64): grad[i] = (f(x+h e_i) - f(x-h e_i)) / 2h.
inline std::vector<double> numeric_gradient(
    const std::function<double(const std::vector<double>&)>& f, std::vector<double> x,
    double h = 1e-6) {
  std::vector<double> grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double saved = x[i];
    x[i] = saved + h;
    double plus = f(x);
    x[i] = saved - h;
    double minus = f(x);
    x[i] = saved;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

// sum_i w[i] * y[i]: turns a vector output into a scalar whose gradient w.r.t. y is w.
inline double weighted_sum(const std::vector<double>& y, const std::vector<double>& w) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i)
    s += y[i] * w[i];
  return s;
}

}  // namespace moe::testing
