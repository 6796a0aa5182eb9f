// CUDA kernels for the pointwise activations ReLU and SwiGLU, the same results as
// backends/cpu/activation.h. Every buffer is (n), n the element count.
#pragma once
#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32.
void relu_forward(Tensor out, const Tensor& x);
void relu_backward(Tensor dx, const Tensor& dout, const Tensor& out);
void swiglu_forward(Tensor out, const Tensor& gate, const Tensor& up);
void swiglu_backward(Tensor dgate, Tensor dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up);

}  // namespace moe::cuda
