// Small elementwise and reduction helpers used by layers and the trainer. Floating-point tensors
// are F32 or F64; the tensors of one call share their dtype. fill, add and add_inplace take F64 on
// every device (the trainer's step statistics); the others, the dtypes the device's backend offers.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::ops {

void fill(Tensor t, float value);
// dst = src: same dtype (any, I32 included) and shape. Between devices one end must be a CPU
// tensor (host <-> device).
void copy(Tensor dst, const Tensor& src);
// out = a + b (same shapes); out may alias a or b.
void add(Tensor out, const Tensor& a, const Tensor& b);
// a += b
void add_inplace(Tensor a, const Tensor& b);
// sum (n) F64 += x (n) in the backend's float dtype, widened: adds statistics the model measures
// in its dtype (expert fractions) into a step's F64 statistics buffer on the device.
void add_widened(Tensor sum, const Tensor& x);
// t *= s
void scale_inplace(Tensor t, float s);
// sum (1) F64 = the sum of t's squares, accumulated in fp64 (for gradient norms). Like every
// statistic, it stays on t's device until a caller copies it to the host.
void sum_squares(Tensor sum, const Tensor& t);
// finite (1) I32 = 1 when every element of t is finite, else 0.
void all_finite(Tensor finite, const Tensor& t);
// t = mean + std * N(0, 1) drawn from (key, index).
void fill_normal(Tensor t, float mean, float std, uint64_t key);
// t = uniform in [lo, hi) drawn from (key, index).
void fill_uniform(Tensor t, float lo, float hi, uint64_t key);

}  // namespace moe::ops
