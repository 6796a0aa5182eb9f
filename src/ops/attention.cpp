#include "ops/attention.h"

#include <cmath>

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// Checks q, k, v, out and lse (shapes, one floating-point dtype) and the options; returns the
// kernels' options, with a scale of 0 resolved to 1/sqrt(D) (Vaswani et al. 2017).
AttentionArgs check_attention(const char* op, const Backend& backend, const Tensor& q,
                              const Tensor& k, const Tensor& v, const Tensor& out,
                              const Tensor& lse, const AttentionArgs& args) {
  const DType dtype = float_dtype(op, backend, "q", q);
  check_dtype(op, "k", k, dtype);
  check_dtype(op, "v", v, dtype);
  MOE_CHECK(q.shape.ndim == 4, op, ": q must be (B, Tq, H, D), got ", q.shape.str());
  MOE_CHECK(k.shape.ndim == 4, op, ": k must be (B, Tk, H_kv, D), got ", k.shape.str());
  check_shape(op, "v", v, k.shape);
  const int64_t B = q.size(0), Tq = q.size(1), H = q.size(2), D = q.size(3);
  const int64_t Tk = k.size(1), Hkv = k.size(2);
  MOE_CHECK(k.size(0) == B && k.size(3) == D, op, ": k has shape ", k.shape.str(),
            ", expected batch ", B, " and head size ", D, " as q ", q.shape.str());
  MOE_CHECK(Hkv > 0 && H % Hkv == 0, op, ": query heads H=", H,
            " must be a multiple of key/value heads H_kv=", Hkv);
  MOE_CHECK(Tq <= Tk, op, ": more queries (Tq=", Tq, ") than keys (Tk=", Tk,
            "); queries must be the last Tq of the Tk positions");
  MOE_CHECK(args.dropout >= 0.0f && args.dropout < 1.0f, op, ": dropout must be in [0, 1), got ",
            args.dropout);
  check_dtype(op, "out", out, dtype);
  check_shape(op, "out", out, q.shape);
  check_dtype(op, "lse", lse, dtype);
  check_shape(op, "lse", lse, Shape{B, H, Tq});
  AttentionArgs resolved = args;
  if (resolved.scale == 0.0f)
    resolved.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  return resolved;
}

}  // namespace

void attention_forward(Tensor out, Tensor lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionArgs& args) {
  const char* op = "attention_forward";
  const Backend& backend = backend_for(op, {&out, &lse, &q, &k, &v});
  const AttentionArgs resolved = check_attention(op, backend, q, k, v, out, lse, args);
  backend.attention.attention_forward(out, lse, q, k, v, resolved);
}

void attention_backward(Tensor dq, Tensor dk, Tensor dv, const Tensor& dout, const Tensor& q,
                        const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const AttentionArgs& args) {
  const char* op = "attention_backward";
  const Backend& backend = backend_for(op, {&dq, &dk, &dv, &dout, &q, &k, &v, &out, &lse});
  const AttentionArgs resolved = check_attention(op, backend, q, k, v, out, lse, args);
  check_dtype(op, "dout", dout, q.dtype);
  check_shape(op, "dout", dout, q.shape);
  check_dtype(op, "dq", dq, q.dtype);
  check_shape(op, "dq", dq, q.shape);
  check_dtype(op, "dk", dk, q.dtype);
  check_shape(op, "dk", dk, k.shape);
  check_dtype(op, "dv", dv, q.dtype);
  check_shape(op, "dv", dv, k.shape);
  backend.attention.attention_backward(dq, dk, dv, dout, q, k, v, out, lse, resolved);
}

}  // namespace moe::ops
