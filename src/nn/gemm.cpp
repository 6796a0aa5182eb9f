#include "nn/gemm.h"

#include "ops/cast.h"
#include "ops/grouped_gemm.h"
#include "ops/matmul.h"

namespace moe {
namespace {

// t as a GEMM input: itself under fp32, or rounded to bf16 (nearest even) into `buffer`.
Tensor gemm_input(const GemmCasts& casts, const Tensor& buffer, const Tensor& t) {
  if (!casts.bf16) return t;
  Tensor cast = buffer.prefix(t.shape);
  ops::cast_to_bf16(cast, t);
  return cast;
}

}  // namespace

void GemmCasts::allocate(Arena& scratch, bool use_bf16, int64_t x_elements, int64_t dout_elements) {
  bf16 = use_bf16;
  if (!bf16) return;
  x = scratch.alloc(Shape{x_elements}, DType::BF16);
  dout = scratch.alloc(Shape{dout_elements}, DType::BF16);
}

void gemm_linear_forward(const GemmCasts& casts, Tensor out, const Tensor& x,
                         const LinearParams& p) {
  ops::linear_forward(out, gemm_input(casts, casts.x, x), p.weight->gemm_value, bias_value(p));
}

void gemm_linear_backward(const GemmCasts& casts, Tensor dx, const LinearParams& p,
                          const Tensor& dout, const Tensor& x, InputGrad dx_mode) {
  ops::linear_backward(dx, p.weight->grad, bias_grad(p), gemm_input(casts, casts.dout, dout),
                       gemm_input(casts, casts.x, x), p.weight->gemm_value, dx_mode);
}

void gemm_grouped_forward(const GemmCasts& casts, Tensor out, const Tensor& x, const Tensor& w,
                          const Tensor& b, const Tensor& expert_offsets) {
  ops::grouped_linear_forward(out, gemm_input(casts, casts.x, x), w, b, expert_offsets);
}

void gemm_grouped_backward(const GemmCasts& casts, Tensor dx, Tensor dw, Tensor db,
                           const Tensor& dout, const Tensor& x, const Tensor& w,
                           const Tensor& expert_offsets, InputGrad dx_mode) {
  ops::grouped_linear_backward(dx, dw, db, gemm_input(casts, casts.dout, dout),
                               gemm_input(casts, casts.x, x), w, expert_offsets, dx_mode);
}

}  // namespace moe
