// CPU kernels for the FFN nonlinearities: ReLU and SwiGLU (silu(gate) * up).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64.
void relu_forward(Tensor out, const Tensor& x);
void relu_backward(Tensor dx, const Tensor& dout, const Tensor& out);
void swiglu_forward(Tensor out, const Tensor& gate, const Tensor& up);
void swiglu_backward(Tensor dgate, Tensor dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up);

// The kernels, templated on the scalar type (tests run them in fp64).

// out (n), x (n). out may alias x.
template <typename T>
void relu_forward(T* out, const T* x, int64_t n);

// dx (n), dout (n), out (n) the forward output. dx may alias dout.
template <typename T>
void relu_backward(T* dx, const T* dout, const T* out, int64_t n);

// out (n), gate (n), up (n).
template <typename T>
void swiglu_forward(T* out, const T* gate, const T* up, int64_t n);

// dgate (n), dup (n), dout (n), gate (n), up (n); gradients assigned.
template <typename T>
void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t n);

}  // namespace moe::cpu
