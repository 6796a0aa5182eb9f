#include "ops/elementwise.h"

#include "backends/cpu/elementwise.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// t is F32 with the shape of a.
void check_like(const char* op, const char* name, const Tensor& t, const Tensor& a) {
  check_dtype(op, name, t, DType::F32);
  check_shape(op, name, t, a.shape);
}

}  // namespace

void fill(Tensor t, float value) {
  const char* op = "fill";
  check_dtype(op, "t", t, DType::F32);
  switch (common_device(op, {&t})) {
    case Device::CPU:
      cpu::fill(t.f32(), t.numel(), value);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void copy(Tensor dst, const Tensor& src) {
  const char* op = "copy";
  check_dtype(op, "dst", dst, src.dtype);
  check_shape(op, "dst", dst, src.shape);
  switch (common_device(op, {&dst, &src})) {
    case Device::CPU:
      if (src.dtype == DType::I32)
        cpu::copy(dst.i32(), src.i32(), src.numel());
      else
        cpu::copy(dst.f32(), src.f32(), src.numel());
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void add(Tensor out, const Tensor& a, const Tensor& b) {
  const char* op = "add";
  check_dtype(op, "a", a, DType::F32);
  check_like(op, "b", b, a);
  check_like(op, "out", out, a);
  switch (common_device(op, {&out, &a, &b})) {
    case Device::CPU:
      cpu::add(out.f32(), a.f32(), b.f32(), a.numel());
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void add_inplace(Tensor a, const Tensor& b) {
  const char* op = "add_inplace";
  check_dtype(op, "a", a, DType::F32);
  check_like(op, "b", b, a);
  switch (common_device(op, {&a, &b})) {
    case Device::CPU:
      cpu::add_inplace(a.f32(), b.f32(), a.numel());
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void scale_inplace(Tensor t, float s) {
  const char* op = "scale_inplace";
  check_dtype(op, "t", t, DType::F32);
  switch (common_device(op, {&t})) {
    case Device::CPU:
      cpu::scale_inplace(t.f32(), t.numel(), s);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

double sum_squares(const Tensor& t) {
  const char* op = "sum_squares";
  check_dtype(op, "t", t, DType::F32);
  if (common_device(op, {&t}) == Device::CUDA) cuda_unavailable(op);
  return cpu::sum_squares(t.f32(), t.numel());
}

bool all_finite(const Tensor& t) {
  const char* op = "all_finite";
  check_dtype(op, "t", t, DType::F32);
  if (common_device(op, {&t}) == Device::CUDA) cuda_unavailable(op);
  return cpu::all_finite(t.f32(), t.numel());
}

void fill_normal(Tensor t, float mean, float std, uint64_t key) {
  const char* op = "fill_normal";
  check_dtype(op, "t", t, DType::F32);
  MOE_CHECK(std >= 0.0f, op, ": std must be non-negative, got ", std);
  switch (common_device(op, {&t})) {
    case Device::CPU:
      cpu::fill_normal(t.f32(), t.numel(), mean, std, key);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void fill_uniform(Tensor t, float lo, float hi, uint64_t key) {
  const char* op = "fill_uniform";
  check_dtype(op, "t", t, DType::F32);
  MOE_CHECK(lo <= hi, op, ": empty range [", lo, ", ", hi, ")");
  switch (common_device(op, {&t})) {
    case Device::CPU:
      cpu::fill_uniform(t.f32(), t.numel(), lo, hi, key);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
