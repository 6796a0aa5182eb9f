// What every CPU table entry needs: typed pointers into the (already validated) tensors it is
// given, and the choice between the fp32 and fp64 instantiation of a templated kernel.
#pragma once
#include "core/tensor.h"

namespace moe::cpu {

// The elements of t as T. The ops layer checked dtype and device, so nothing is checked here.
template <typename T>
T* data(const Tensor& t) {
  return static_cast<T*>(t.ptr);
}

// data<T>(t), or nullptr for an empty (optional) tensor.
template <typename T>
T* data_or_null(const Tensor& t) {
  return t.empty() ? nullptr : static_cast<T*>(t.ptr);
}

// Calls f(float{}) or f(double{}) for a call whose floating-point dtype is F32 or F64 (the dtypes
// the CPU backend offers), so a generic lambda `[&]<typename T>(T) {...}` runs kernel<T>.
template <typename F>
void for_dtype(DType dtype, F&& f) {
  if (dtype == DType::F64)
    f(double{});
  else
    f(float{});
}

}  // namespace moe::cpu
