#include "ops/elementwise.h"

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// t has the dtype and shape of a.
void check_like(const char* op, const char* name, const Tensor& t, const Tensor& a) {
  check_dtype(op, name, t, a.dtype);
  check_shape(op, name, t, a.shape);
}

// Copies between devices go through the host: one end of every copy is a CPU tensor.
void copy_across(const char* op, Tensor dst, const Tensor& src) {
  MOE_CHECK(dst.device == Device::CPU || src.device == Device::CPU, op, ": no direct copy from ",
            device_name(src.device), " to ", device_name(dst.device),
            "; copy through a CPU tensor");
  if (dst.device == Device::CPU)
    backend_for(op, src.device).memory.copy_to_host(dst.ptr, src.ptr, src.bytes());
  else
    backend_for(op, dst.device).memory.copy_to_device(dst.ptr, src.ptr, src.bytes());
}

// The dtype of fill and add: F64 on every backend, whatever its `dtypes` (the trainer keeps its
// step statistics in F64 on the model's device; backends/backend.h), else float_dtype's.
DType statistics_or_float_dtype(const char* op, const Backend& backend, const char* arg,
                                const Tensor& t) {
  return t.dtype == DType::F64 ? DType::F64 : float_dtype(op, backend, arg, t);
}

}  // namespace

void fill(Tensor t, float value) {
  const char* op = "fill";
  const Backend& backend = backend_for(op, {&t});
  statistics_or_float_dtype(op, backend, "t", t);
  backend.elementwise.fill(t, value);
}

void copy(Tensor dst, const Tensor& src) {
  const char* op = "copy";
  check_like(op, "dst", dst, src);
  if (dst.device != src.device && !dst.empty() && !src.empty()) {
    copy_across(op, dst, src);
    return;
  }
  backend_for(op, {&dst, &src}).memory.copy_on_device(dst.ptr, src.ptr, src.bytes());
}

void add(Tensor out, const Tensor& a, const Tensor& b) {
  const char* op = "add";
  const Backend& backend = backend_for(op, {&out, &a, &b});
  statistics_or_float_dtype(op, backend, "a", a);
  check_like(op, "b", b, a);
  check_like(op, "out", out, a);
  backend.elementwise.add(out, a, b);
}

void add_inplace(Tensor a, const Tensor& b) {
  const char* op = "add_inplace";
  const Backend& backend = backend_for(op, {&a, &b});
  statistics_or_float_dtype(op, backend, "a", a);
  check_like(op, "b", b, a);
  backend.elementwise.add(a, a, b);
}

void add_widened(Tensor sum, const Tensor& x) {
  const char* op = "add_widened";
  const Backend& backend = backend_for(op, {&sum, &x});
  float_dtype(op, backend, "x", x);
  check_dtype(op, "sum", sum, DType::F64);
  check_shape(op, "sum", sum, x.shape);
  backend.elementwise.add_widened(sum, x);
}

void scale_inplace(Tensor t, float s) {
  const char* op = "scale_inplace";
  const Backend& backend = backend_for(op, {&t});
  float_dtype(op, backend, "t", t);
  backend.elementwise.scale_inplace(t, s);
}

void sum_squares(Tensor sum, const Tensor& t) {
  const char* op = "sum_squares";
  const Backend& backend = backend_for(op, {&sum, &t});
  float_dtype(op, backend, "t", t);
  check_dtype(op, "sum", sum, DType::F64);
  check_shape(op, "sum", sum, {1});
  backend.elementwise.sum_squares(sum, t);
}

void all_finite(Tensor finite, const Tensor& t) {
  const char* op = "all_finite";
  const Backend& backend = backend_for(op, {&finite, &t});
  float_dtype(op, backend, "t", t);
  check_dtype(op, "finite", finite, DType::I32);
  check_shape(op, "finite", finite, {1});
  backend.elementwise.all_finite(finite, t);
}

void fill_normal(Tensor t, float mean, float std, uint64_t key) {
  const char* op = "fill_normal";
  const Backend& backend = backend_for(op, {&t});
  float_dtype(op, backend, "t", t);
  MOE_CHECK(std >= 0.0f, op, ": std must be non-negative, got ", std);
  backend.elementwise.fill_normal(t, mean, std, key);
}

void fill_uniform(Tensor t, float lo, float hi, uint64_t key) {
  const char* op = "fill_uniform";
  const Backend& backend = backend_for(op, {&t});
  float_dtype(op, backend, "t", t);
  MOE_CHECK(lo <= hi, op, ": empty range [", lo, ", ", hi, ")");
  backend.elementwise.fill_uniform(t, lo, hi, key);
}

}  // namespace moe::ops
