#include "ops/attention.h"

#include <cmath>

#include "backends/cpu/attention.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

struct Dims {
  int64_t B, Tq, Tk, H, Hkv, D;
};

// Checks q, k, v and the options; returns the sizes.
Dims check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
               const AttentionArgs& args) {
  check_dtype(op, "q", q, DType::F32);
  check_dtype(op, "k", k, DType::F32);
  check_dtype(op, "v", v, DType::F32);
  MOE_CHECK(q.shape.ndim == 4, op, ": q must be (B, Tq, H, D), got ", q.shape.str());
  MOE_CHECK(k.shape.ndim == 4, op, ": k must be (B, Tk, H_kv, D), got ", k.shape.str());
  check_shape(op, "v", v, k.shape);
  Dims d{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
  MOE_CHECK(k.size(0) == d.B && k.size(3) == d.D, op, ": k has shape ", k.shape.str(),
            ", expected batch ", d.B, " and head size ", d.D, " as q ", q.shape.str());
  MOE_CHECK(d.Hkv > 0 && d.H % d.Hkv == 0, op, ": query heads H=", d.H,
            " must be a multiple of key/value heads H_kv=", d.Hkv);
  MOE_CHECK(d.Tq <= d.Tk, op, ": more queries (Tq=", d.Tq, ") than keys (Tk=", d.Tk,
            "); queries must be the last Tq of the Tk positions");
  MOE_CHECK(args.dropout >= 0.0f && args.dropout < 1.0f, op, ": dropout must be in [0, 1), got ",
            args.dropout);
  return d;
}

// args.scale, or 1/sqrt(D) when it is 0 (Vaswani et al. 2017).
float effective_scale(const AttentionArgs& args, int64_t D) {
  return args.scale != 0.0f ? args.scale
                            : static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
}

}  // namespace

void attention_forward(Tensor out, Tensor probs, const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionArgs& args) {
  const char* op = "attention_forward";
  const Dims d = check_qkv(op, q, k, v, args);
  check_dtype(op, "out", out, DType::F32);
  check_shape(op, "out", out, q.shape);
  check_dtype(op, "probs", probs, DType::F32);
  check_shape(op, "probs", probs, Shape{d.B, d.H, d.Tq, d.Tk});
  switch (common_device(op, {&out, &probs, &q, &k, &v})) {
    case Device::CPU:
      cpu::attention_forward(out.f32(), probs.f32(), q.f32(), k.f32(), v.f32(), d.B, d.Tq, d.Tk,
                             d.H, d.Hkv, d.D, effective_scale(args, d.D), args.dropout,
                             args.dropout_key);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dprobs, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                        const AttentionArgs& args) {
  const char* op = "attention_backward";
  const Dims d = check_qkv(op, q, k, v, args);
  const Shape probs_shape{d.B, d.H, d.Tq, d.Tk};
  check_dtype(op, "probs", probs, DType::F32);
  check_shape(op, "probs", probs, probs_shape);
  check_dtype(op, "dprobs", dprobs, DType::F32);
  check_shape(op, "dprobs", dprobs, probs_shape);
  check_dtype(op, "dout", dout, DType::F32);
  check_shape(op, "dout", dout, q.shape);
  check_dtype(op, "dq", dq, DType::F32);
  check_shape(op, "dq", dq, q.shape);
  check_dtype(op, "dk", dk, DType::F32);
  check_shape(op, "dk", dk, k.shape);
  check_dtype(op, "dv", dv, DType::F32);
  check_shape(op, "dv", dv, k.shape);
  switch (common_device(op, {&dq, &dk, &dv, &dprobs, &dout, &q, &k, &v, &probs})) {
    case Device::CPU:
      cpu::attention_backward(dq.f32(), dk.f32(), dv.f32(), dprobs.f32(), dout.f32(), q.f32(),
                              k.f32(), v.f32(), probs.f32(), d.B, d.Tq, d.Tk, d.H, d.Hkv, d.D,
                              effective_scale(args, d.D), args.dropout, args.dropout_key);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
