#include "ops/cast.h"

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// out (dtype `to`) and src (dtype `from`) of one shape on one device; returns their backend.
const Backend& check_cast(const char* op, Tensor& out, const Tensor& src, DType to, DType from) {
  const Backend& backend = backend_for(op, {&out, &src});
  check_dtype(op, "src", src, from);
  check_dtype(op, "out", out, to);
  check_shape(op, "out", out, src.shape);
  return backend;
}

}  // namespace

void cast_to_bf16(Tensor out, const Tensor& src) {
  check_cast("cast_to_bf16", out, src, DType::BF16, DType::F32).cast.to_bf16(out, src);
}

void cast_to_bf16_stochastic(Tensor out, const Tensor& src, uint64_t key) {
  check_cast("cast_to_bf16_stochastic", out, src, DType::BF16, DType::F32)
      .cast.to_bf16_stochastic(out, src, key);
}

void cast_from_bf16(Tensor out, const Tensor& src) {
  check_cast("cast_from_bf16", out, src, DType::F32, DType::BF16).cast.from_bf16(out, src);
}

}  // namespace moe::ops
