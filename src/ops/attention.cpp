#include "ops/attention.h"

#include <cmath>

#include "backends/cpu/attention.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// Checks q, k, v and the options; returns the sizes.
cpu::AttentionDims check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                             const AttentionArgs& args) {
  check_dtype(op, "q", q, DType::F32);
  check_dtype(op, "k", k, DType::F32);
  check_dtype(op, "v", v, DType::F32);
  MOE_CHECK(q.shape.ndim == 4, op, ": q must be (B, Tq, H, D), got ", q.shape.str());
  MOE_CHECK(k.shape.ndim == 4, op, ": k must be (B, Tk, H_kv, D), got ", k.shape.str());
  check_shape(op, "v", v, k.shape);
  const cpu::AttentionDims d{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
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

// The kernels' options: args.scale, or 1/sqrt(D) when it is 0 (Vaswani et al. 2017).
cpu::AttentionOptions kernel_options(const AttentionArgs& args, int64_t D) {
  const float scale =
      args.scale != 0.0f ? args.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  return {scale, args.dropout, args.dropout_key};
}

}  // namespace

void attention_forward(Tensor out, Tensor lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionArgs& args) {
  const char* op = "attention_forward";
  const cpu::AttentionDims d = check_qkv(op, q, k, v, args);
  check_dtype(op, "out", out, DType::F32);
  check_shape(op, "out", out, q.shape);
  check_dtype(op, "lse", lse, DType::F32);
  check_shape(op, "lse", lse, Shape{d.B, d.H, d.Tq});
  switch (common_device(op, {&out, &lse, &q, &k, &v})) {
    case Device::CPU:
      cpu::attention_forward(out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), d,
                             kernel_options(args, d.D));
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void attention_backward(Tensor dq, Tensor dk, Tensor dv, const Tensor& dout, const Tensor& q,
                        const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const AttentionArgs& args) {
  const char* op = "attention_backward";
  const cpu::AttentionDims d = check_qkv(op, q, k, v, args);
  check_dtype(op, "out", out, DType::F32);
  check_shape(op, "out", out, q.shape);
  check_dtype(op, "lse", lse, DType::F32);
  check_shape(op, "lse", lse, Shape{d.B, d.H, d.Tq});
  check_dtype(op, "dout", dout, DType::F32);
  check_shape(op, "dout", dout, q.shape);
  check_dtype(op, "dq", dq, DType::F32);
  check_shape(op, "dq", dq, q.shape);
  check_dtype(op, "dk", dk, DType::F32);
  check_shape(op, "dk", dk, k.shape);
  check_dtype(op, "dv", dv, DType::F32);
  check_shape(op, "dv", dv, k.shape);
  switch (common_device(op, {&dq, &dk, &dv, &dout, &q, &k, &v, &out, &lse})) {
    case Device::CPU:
      cpu::attention_backward(dq.f32(), dk.f32(), dv.f32(), dout.f32(), q.f32(), k.f32(), v.f32(),
                              out.f32(), lse.f32(), d, kernel_options(args, d.D));
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
