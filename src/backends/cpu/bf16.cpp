#include "backends/cpu/bf16.h"

#include <vector>

#include "backends/cpu/grouped_gemm.h"
#include "backends/cpu/matmul.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/tensor_data.h"
#include "core/half.h"
#include "core/rng.h"

namespace moe::cpu {
namespace {

// The fp32 copies of a GEMM's bf16 inputs. Reused between calls (one set per thread), so a
// training step allocates nothing once the first has run.
enum WideSlot { kWideX, kWideW, kWideDout, kWideSlots };

// t (BF16) widened to fp32 in the buffer of `slot`.
const float* widen(const Tensor& t, WideSlot slot) {
  thread_local std::vector<float> buffers[kWideSlots];
  std::vector<float>& wide = buffers[slot];
  const int64_t n = t.numel();
  wide.resize(static_cast<size_t>(n));
  const uint16_t* src = data<uint16_t>(t);
  float* dst = wide.data();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    dst[i] = bf16_to_fp32(src[i]);
  return dst;
}

}  // namespace

void cast_to_bf16(Tensor out, const Tensor& src) {
  const float* s = data<float>(src);
  uint16_t* o = data<uint16_t>(out);
  const int64_t n = src.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    o[i] = fp32_to_bf16(s[i]);
}

void cast_to_bf16_stochastic(Tensor out, const Tensor& src, uint64_t key) {
  const float* s = data<float>(src);
  uint16_t* o = data<uint16_t>(out);
  const int64_t n = src.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    o[i] = fp32_to_bf16_stochastic(s[i],
                                   static_cast<uint32_t>(rng_bits(key, static_cast<uint64_t>(i))));
}

void cast_from_bf16(Tensor out, const Tensor& src) {
  const uint16_t* s = data<uint16_t>(src);
  float* o = data<float>(out);
  const int64_t n = src.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    o[i] = bf16_to_fp32(s[i]);
}

void bf16_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b) {
  linear_forward(data<float>(out), widen(x, kWideX), widen(w, kWideW), data_or_null<float>(b),
                 x.size(0), x.size(1), w.size(0));
}

void bf16_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                          const Tensor& w, InputGrad dx_mode) {
  linear_backward(data_or_null<float>(dx), data<float>(dw), data_or_null<float>(db),
                  widen(dout, kWideDout), widen(x, kWideX), widen(w, kWideW), x.size(0), x.size(1),
                  w.size(0), dx_mode);
}

void bf16_grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                                 const Tensor& expert_offsets) {
  grouped_linear_forward(data<float>(out), widen(x, kWideX), widen(w, kWideW),
                         data_or_null<float>(b), data<int32_t>(expert_offsets), x.size(1),
                         w.size(1), w.size(0));
}

void bf16_grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout,
                                  const Tensor& x, const Tensor& w, const Tensor& expert_offsets,
                                  InputGrad dx_mode) {
  grouped_linear_backward(data_or_null<float>(dx), data<float>(dw), data_or_null<float>(db),
                          widen(dout, kWideDout), widen(x, kWideX), widen(w, kWideW),
                          data<int32_t>(expert_offsets), x.size(1), w.size(1), w.size(0), dx_mode);
}

}  // namespace moe::cpu
