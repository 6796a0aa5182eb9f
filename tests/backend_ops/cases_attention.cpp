// Attention, through its current op API (F32 only until the flash-style rewrite). Its reference is
// the CPU kernel run in fp64 directly.
#include <cmath>
#include <string>

#include "backends/cpu/attention.h"
#include "harness.h"
#include "ops/attention.h"

namespace moe::backend_ops {

namespace {

struct Dims {
  int64_t B, Tq, Tk, H, Hkv, D;
};

// Causal grouped-query attention: queries are the last Tq of Tk positions, so every query row has
// masked (future) keys; with dropout, some visible weights are dropped too.
OpCase attention(std::string name, Dims d, float dropout) {
  OpCase c{std::move(name), {"attention_forward", "attention_backward"}};
  Values v(40 + static_cast<uint32_t>(d.Tk));
  const Shape qs{d.B, d.Tq, d.H, d.D}, ks{d.B, d.Tk, d.Hkv, d.D}, ps{d.B, d.H, d.Tq, d.Tk};
  c.input("q", qs, v.uniform(qs.numel()));
  c.input("k", ks, v.uniform(ks.numel()));
  c.input("v", ks, v.uniform(ks.numel()));
  c.input("dout", qs, v.uniform(qs.numel()));
  c.input("dprobs", ps, std::vector<double>(ps.numel(), 0.0));  // scratch, not compared
  c.output("out", qs);
  c.output("probs", ps);
  c.output("dq", qs);
  c.output("dk", ks);
  c.output("dv", ks);
  ops::AttentionArgs args;
  args.dropout = dropout;
  args.dropout_key = 99;
  c.forward = [args](const Tensors& t) {
    ops::attention_forward(t["out"], t["probs"], t["q"], t["k"], t["v"], args);
    return Returned{};
  };
  c.backward = [args](const Tensors& t) {
    ops::attention_backward(t["dq"], t["dk"], t["dv"], t["dprobs"], t["dout"], t["q"], t["k"],
                            t["v"], t["probs"], args);
    return Returned{};
  };
  c.dtypes = {DType::F32};
  c.dtype_reason = "the attention op takes F32 only until its flash-style rewrite";
  c.reference = [d, dropout](const OpCase& self) {
    const std::vector<double>& q = self.buffer("q").values;
    const std::vector<double>& k = self.buffer("k").values;
    const std::vector<double>& v = self.buffer("v").values;
    const std::vector<double>& dout = self.buffer("dout").values;
    // The scale the op uses when AttentionArgs::scale is 0: 1/sqrt(D), rounded to float.
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.D)));
    std::vector<double> out(q.size()), probs(d.B * d.H * d.Tq * d.Tk), dprobs(probs.size());
    std::vector<double> dq(q.size()), dk(k.size()), dv(v.size());
    cpu::attention_forward<double>(out.data(), probs.data(), q.data(), k.data(), v.data(), d.B,
                                   d.Tq, d.Tk, d.H, d.Hkv, d.D, scale, dropout, 99);
    cpu::attention_backward<double>(dq.data(), dk.data(), dv.data(), dprobs.data(), dout.data(),
                                    q.data(), k.data(), v.data(), probs.data(), d.B, d.Tq, d.Tk,
                                    d.H, d.Hkv, d.D, scale, dropout, 99);
    return Results{out, probs, dq, dk, dv, {}};
  };
  return c;
}

}  // namespace

std::vector<OpCase> attention_cases() {
  return {attention("attention (training, GQA 4/2 heads, dropout 0.1)", {2, 6, 6, 4, 2, 8}, 0.1f),
          attention("attention (decoding 3 of 7 positions)", {1, 3, 7, 4, 2, 8}, 0.0f)};
}

}  // namespace moe::backend_ops
