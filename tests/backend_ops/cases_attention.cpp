// Attention in FlashAttention's form: out and the per-query log-sum-exp forward, dq, dk, dv
// backward, in every dtype a backend offers. The F64 reference's gradients are checked against
// finite differences of its out, so the recomputation from lse is checked too.
#include <string>

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
  const Shape qs{d.B, d.Tq, d.H, d.D}, ks{d.B, d.Tk, d.Hkv, d.D}, ls{d.B, d.H, d.Tq};
  c.input("q", qs, v.uniform(qs.numel()));
  c.input("k", ks, v.uniform(ks.numel()));
  c.input("v", ks, v.uniform(ks.numel()));
  c.input("dout", qs, v.uniform(qs.numel()));
  c.output("out", qs);
  c.output("lse", ls);
  c.output("dq", qs);
  c.output("dk", ks);
  c.output("dv", ks);
  AttentionArgs args;
  args.dropout = dropout;
  args.dropout_key = 99;
  c.forward = [args](const Tensors& t) {
    ops::attention_forward(t["out"], t["lse"], t["q"], t["k"], t["v"], args);
  };
  c.backward = [args](const Tensors& t) {
    ops::attention_backward(t["dq"], t["dk"], t["dv"], t["dout"], t["q"], t["k"], t["v"], t["out"],
                            t["lse"], args);
  };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"q", "dq"}, {"k", "dk"}, {"v", "dv"}};
  return c;
}

}  // namespace

std::vector<OpCase> attention_cases() {
  return {
      attention("attention (training, GQA 4/2 heads, dropout 0.1)", {2, 6, 6, 4, 2, 8}, 0.1f),
      attention("attention (decoding 3 of 7 positions)", {1, 3, 7, 4, 2, 8}, 0.0f),
      attention("attention (70 positions: two query and key tiles)", {1, 70, 70, 2, 1, 8}, 0.0f)};
}

}  // namespace moe::backend_ops
