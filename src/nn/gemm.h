// The GEMMs of a layer under the model's precision (docs/ARCHITECTURE.md, "Mixed precision"):
// fp32, or bf16 (train.precision = bf16), where the weights' bf16 copies (Param::gemm_value) are
// multiplied by activations cast to bf16 at the GEMM inputs, with fp32 accumulation into fp32
// outputs; parameter gradients stay fp32 for the fp32 master weights.
#pragma once
#include <cstdint>

#include "core/arena.h"
#include "core/tensor.h"
#include "nn/init.h"
#include "ops/matmul.h"  // InputGrad

namespace moe {

// A layer's bf16 buffers for the casts at its GEMM inputs (none under fp32).
struct GemmCasts {
  bool bf16 = false;
  Tensor x;     // (x_elements) BF16: the activation input of one GEMM
  Tensor dout;  // (dout_elements) BF16: the output gradient of one backward GEMM

  // From the layer's call scratch: sized for its largest activation input and output gradient.
  void allocate(Arena& scratch, bool use_bf16, int64_t x_elements, int64_t dout_elements);
};

// out (N, O) = x (N, I) @ p.weight^T + p.bias.
void gemm_linear_forward(const GemmCasts& casts, Tensor out, const Tensor& x,
                         const LinearParams& p);
// dx (N, I) assigned, or added to with InputGrad::Accumulate (skipped when empty); p's weight and
// bias gradients accumulated.
void gemm_linear_backward(const GemmCasts& casts, Tensor dx, const LinearParams& p,
                          const Tensor& dout, const Tensor& x,
                          InputGrad dx_mode = InputGrad::Assign);
// ops/grouped_gemm.h with w (E, O, I) the stacked gemm values (ParamTable::stacked_gemm_value).
void gemm_grouped_forward(const GemmCasts& casts, Tensor out, const Tensor& x, const Tensor& w,
                          const Tensor& b, const Tensor& expert_offsets);
void gemm_grouped_backward(const GemmCasts& casts, Tensor dx, Tensor dw, Tensor db,
                           const Tensor& dout, const Tensor& x, const Tensor& w,
                           const Tensor& expert_offsets, InputGrad dx_mode = InputGrad::Assign);

}  // namespace moe
