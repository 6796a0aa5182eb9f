#include "backends/cpu/activation.h"

#include "backends/cpu/tensor_data.h"
#include "backends/cpu/vec_exp.h"

namespace moe::cpu {
namespace {

// 1 / (1 + e^-g). vec_exp (not glibc's expf, a call the compiler cannot vectorise) lets the
// SwiGLU loops run on whole SIMD vectors; SwiGLU took a tenth of a Llama-style MoE training step
// with expf. For very negative g, e^-g saturates at e^88 and sigmoid(g) is about 6e-39, not 0.
template <typename T>
T sigmoid(T g) {
  return T(1) / (T(1) + vec_exp(-g));
}

}  // namespace

template <typename T>
void relu_forward(T* out, const T* x, int64_t n) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i)
    out[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T>
void relu_backward(T* dx, const T* dout, const T* out, int64_t n) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i)
    dx[i] = out[i] > T(0) ? dout[i] : T(0);
}

template <typename T>
void swiglu_forward(T* out, const T* gate, const T* up, int64_t n) {
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i)
    out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

// d silu(g)/dg = sig(g) (1 + g (1 - sig(g))) (Elfwing et al. 2018, SiLU).
template <typename T>
void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t n) {
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) {
    const T g = gate[i], u = up[i], d = dout[i];
    const T sig = sigmoid(g);
    dgate[i] = d * u * sig * (T(1) + g * (T(1) - sig));
    dup[i] = d * g * sig;
  }
}

void relu_forward(Tensor out, const Tensor& x) {
  for_dtype(x.dtype, [&]<typename T>(T) { relu_forward(data<T>(out), data<T>(x), x.numel()); });
}

void relu_backward(Tensor dx, const Tensor& dout, const Tensor& out) {
  for_dtype(out.dtype, [&]<typename T>(T) {
    relu_backward(data<T>(dx), data<T>(dout), data<T>(out), out.numel());
  });
}

void swiglu_forward(Tensor out, const Tensor& gate, const Tensor& up) {
  for_dtype(gate.dtype, [&]<typename T>(T) {
    swiglu_forward(data<T>(out), data<T>(gate), data<T>(up), gate.numel());
  });
}

void swiglu_backward(Tensor dgate, Tensor dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up) {
  for_dtype(gate.dtype, [&]<typename T>(T) {
    swiglu_backward(data<T>(dgate), data<T>(dup), data<T>(dout), data<T>(gate), data<T>(up),
                    gate.numel());
  });
}

template void relu_forward<float>(float*, const float*, int64_t);
template void relu_forward<double>(double*, const double*, int64_t);
template void relu_backward<float>(float*, const float*, const float*, int64_t);
template void relu_backward<double>(double*, const double*, const double*, int64_t);
template void swiglu_forward<float>(float*, const float*, const float*, int64_t);
template void swiglu_forward<double>(double*, const double*, const double*, int64_t);
template void swiglu_backward<float>(float*, float*, const float*, const float*, const float*,
                                     int64_t);
template void swiglu_backward<double>(double*, double*, const double*, const double*, const double*,
                                      int64_t);

}  // namespace moe::cpu
