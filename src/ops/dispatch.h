// Device dispatch shared by every op: all tensors of a call must live on one device, and a
// build without the CUDA backend says so clearly instead of crashing.
#pragma once
#include <initializer_list>

#include "core/check.h"
#include "core/tensor.h"

namespace moe::ops {

// The device shared by the non-empty tensors; throws if they differ.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);

[[noreturn]] void cuda_unavailable(const char* op);

// Shape check with a message naming the op and the argument.
void check_shape(const char* op, const char* arg, const Tensor& t, Shape expected);
void check_dtype(const char* op, const char* arg, const Tensor& t, DType expected);

}  // namespace moe::ops
