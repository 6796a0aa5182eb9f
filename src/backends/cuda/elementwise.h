// CUDA kernels for the small elementwise and reduction helpers, the same results as
// backends/cpu/elementwise.h. Every buffer is (n), n the element count.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32; fill and add take F64 too (the step statistics).
void fill(Tensor t, float value);
void add(Tensor out, const Tensor& a, const Tensor& b);
void add_widened(Tensor sum, const Tensor& x);
void scale_inplace(Tensor t, float s);
void sum_squares(Tensor sum, const Tensor& t);
void all_finite(Tensor finite, const Tensor& t);
void fill_normal(Tensor t, float mean, float std, uint64_t key);
void fill_uniform(Tensor t, float lo, float hi, uint64_t key);

}  // namespace moe::cuda
