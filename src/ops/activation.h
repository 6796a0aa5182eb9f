// FFN nonlinearities: ReLU (GPT-style experts, makeMoE) and SwiGLU (Shazeer 2020,
// "GLU Variants Improve Transformer"; Llama/Mixtral experts: silu(w1 x) * (w3 x)).
#pragma once
#include "core/tensor.h"

namespace moe::ops {

// out = max(x, 0); any shape. out may alias x.
void relu_forward(Tensor out, const Tensor& x);
// dx = dout * (out > 0); out is the forward output. dx may alias dout.
void relu_backward(Tensor dx, const Tensor& dout, const Tensor& out);

// out (N, H) = silu(gate) * up, silu(g) = g * sigmoid(g); gate, up (N, H).
void swiglu_forward(Tensor out, const Tensor& gate, const Tensor& up);
// dgate, dup (N, H) assigned.
void swiglu_backward(Tensor dgate, Tensor dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up);

}  // namespace moe::ops
