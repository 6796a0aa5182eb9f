// Norms, linear and grouped linear layers, embeddings, RoPE, the loss, the optimizer.
#include <string>

#include "harness.h"
#include "ops/adamw.h"
#include "ops/embedding.h"
#include "ops/grouped_gemm.h"
#include "ops/layernorm.h"
#include "ops/matmul.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/softmax_xent.h"

namespace moe::backend_ops {

namespace {

OpCase layernorm(bool bias) {
  OpCase c{bias ? "layernorm (bias)" : "layernorm (no bias)",
           {"layernorm_forward", "layernorm_backward"}};
  const int64_t N = 5, C = 24;
  Values v(bias ? 10 : 11);
  c.input("x", {N, C}, v.uniform(N * C, -2.0, 2.0));
  c.input("w", {C}, v.uniform(C, 0.5, 1.5));
  c.input("b", {C}, v.uniform(C));
  c.input("dout", {N, C}, v.uniform(N * C));
  c.output("out", {N, C});
  c.output("mean", {N});
  c.output("rstd", {N});
  c.output("dx", {N, C});
  c.output("dw", {C}, v.uniform(C));
  c.output("db", {C}, v.uniform(C));
  c.forward = [bias](const Tensors& t) {
    ops::layernorm_forward(t["out"], t["mean"], t["rstd"], t["x"], t["w"], bias ? t["b"] : Tensor{},
                           1e-5f);
  };
  c.backward = [bias](const Tensors& t) {
    ops::layernorm_backward(t["dx"], t["dw"], bias ? t["db"] : Tensor{}, t["dout"], t["x"], t["w"],
                            t["mean"], t["rstd"]);
  };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"x", "dx"}, {"w", "dw", true}};
  if (bias) c.gradients.push_back({"b", "db", true});
  return c;
}

OpCase rmsnorm() {
  OpCase c{"rmsnorm", {"rmsnorm_forward", "rmsnorm_backward"}};
  const int64_t N = 5, C = 24;
  Values v(12);
  c.input("x", {N, C}, v.uniform(N * C, -2.0, 2.0));
  c.input("w", {C}, v.uniform(C, 0.5, 1.5));
  c.input("dout", {N, C}, v.uniform(N * C));
  c.output("out", {N, C});
  c.output("rstd", {N});
  c.output("dx", {N, C});
  c.output("dw", {C}, v.uniform(C));
  c.forward = [](const Tensors& t) {
    ops::rmsnorm_forward(t["out"], t["rstd"], t["x"], t["w"], 1e-6f);
  };
  c.backward = [](const Tensors& t) {
    ops::rmsnorm_backward(t["dx"], t["dw"], t["dout"], t["x"], t["w"], t["rstd"]);
  };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"x", "dx"}, {"w", "dw", true}};
  return c;
}

// With bias and every gradient, or without bias and without dx (a first layer).
OpCase linear(bool full) {
  OpCase c{full ? "linear (bias)" : "linear (no bias, no dx)",
           {"linear_forward", "linear_backward"}};
  const int64_t N = 7, I = 12, O = 9;
  Values v(full ? 13 : 14);
  c.bf16_input("x", {N, I}, v.uniform(N * I));
  c.bf16_input("w", {O, I}, v.uniform(O * I));
  c.input("b", {O}, v.uniform(O));
  c.bf16_input("dout", {N, O}, v.uniform(N * O));
  c.output("out", {N, O});
  c.output("dx", {N, I});
  c.output("dw", {O, I}, v.uniform(O * I));
  c.output("db", {O}, v.uniform(O));
  c.forward = [full](const Tensors& t) {
    ops::linear_forward(t["out"], t["x"], t["w"], full ? t["b"] : Tensor{});
  };
  c.backward = [full](const Tensors& t) {
    ops::linear_backward(full ? t["dx"] : Tensor{}, t["dw"], full ? t["db"] : Tensor{}, t["dout"],
                         t["x"], t["w"]);
  };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"w", "dw", true}};
  if (full) c.gradients.insert(c.gradients.end(), {{"x", "dx"}, {"b", "db", true}});
  return c;
}

// dx accumulated (InputGrad::Accumulate): the input gradient adds to what dx held.
OpCase linear_accumulating_dx() {
  OpCase c{"linear (dx accumulated)", {"linear_forward", "linear_backward"}};
  const int64_t N = 7, I = 12, O = 9;
  Values v(16);
  c.bf16_input("x", {N, I}, v.uniform(N * I));
  c.bf16_input("w", {O, I}, v.uniform(O * I));
  c.bf16_input("dout", {N, O}, v.uniform(N * O));
  c.output("out", {N, O});
  c.output("dx", {N, I}, v.uniform(N * I));
  c.output("dw", {O, I}, v.uniform(O * I));
  c.forward = [](const Tensors& t) { ops::linear_forward(t["out"], t["x"], t["w"], Tensor{}); };
  c.backward = [](const Tensors& t) {
    ops::linear_backward(t["dx"], t["dw"], Tensor{}, t["dout"], t["x"], t["w"],
                         InputGrad::Accumulate);
  };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"x", "dx", true}, {"w", "dw", true}};
  return c;
}

// Expert e owns rows [offsets[e], offsets[e+1]) of a buffer of `rows` rows; rows past the last
// offset must stay as they were (sentinels). With `dx_mode` Accumulate, dx starts from random
// values that its routed rows add to.
OpCase grouped_linear(std::string name, std::vector<int32_t> offsets, int64_t rows,
                      InputGrad dx_mode = InputGrad::Assign) {
  OpCase c{std::move(name), {"grouped_linear_forward", "grouped_linear_backward"}};
  const bool accumulate = dx_mode == InputGrad::Accumulate;
  const int64_t E = static_cast<int64_t>(offsets.size()) - 1, I = 8, O = 6;
  Values v(15 + static_cast<uint32_t>(E));
  c.index("offsets", {E + 1}, offsets);
  c.bf16_input("x", {rows, I}, v.uniform(rows * I));
  c.bf16_input("w", {E, O, I}, v.uniform(E * O * I));
  c.input("b", {E, O}, v.uniform(E * O));
  std::vector<double> dout = v.uniform(rows * O);
  for (int64_t i = offsets.back() * O; i < rows * O; ++i)
    dout[i] = 0.0;  // rows no expert owns are not outputs
  c.bf16_input("dout", {rows, O}, dout);
  c.output("out", {rows, O}, std::vector<double>(rows * O, -77.0));
  if (accumulate)
    c.output("dx", {rows, I}, v.uniform(rows * I));
  else
    c.output("dx", {rows, I});
  c.output("dw", {E, O, I}, v.uniform(E * O * I));
  c.output("db", {E, O}, v.uniform(E * O));
  c.forward = [](const Tensors& t) {
    ops::grouped_linear_forward(t["out"], t["x"], t["w"], t["b"], t["offsets"]);
  };
  c.backward = [dx_mode](const Tensors& t) {
    ops::grouped_linear_backward(t["dx"], t["dw"], t["db"], t["dout"], t["x"], t["w"], t["offsets"],
                                 dx_mode);
  };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"x", "dx", accumulate}, {"w", "dw", true}, {"b", "db", true}};
  return c;
}

// Token + learned position embedding (GPT-style) with repeated tokens, at a position offset
// (decoding), or tokens alone (Llama-style).
OpCase embedding(bool positions, int64_t offset) {
  OpCase c{positions ? "embedding (positions, offset " + std::to_string(offset) + ")"
                     : "embedding (tokens only)",
           {"embedding_forward", "embedding_backward"}};
  const int64_t B = 2, T = 5, V = 11, C = 8, max_T = 9;
  Values v(17 + static_cast<uint32_t>(offset));
  std::vector<int32_t> tokens = v.ids(B * T, static_cast<int32_t>(V));
  tokens[3] = tokens[7] = 4;  // a repeated token sums its gradients
  tokens[0] = 0;
  tokens[9] = static_cast<int32_t>(V - 1);
  c.index("tokens", {B, T}, tokens);
  c.input("wte", {V, C}, v.uniform(V * C));
  c.input("wpe", {max_T, C}, v.uniform(max_T * C));
  c.input("dout", {B, T, C}, v.uniform(B * T * C));
  c.output("out", {B, T, C});
  c.output("dwte", {V, C}, v.uniform(V * C));
  c.output("dwpe", {max_T, C}, v.uniform(max_T * C));
  c.forward = [positions, offset](const Tensors& t) {
    ops::embedding_forward(t["out"], t["tokens"], t["wte"], positions ? t["wpe"] : Tensor{},
                           offset);
  };
  c.backward = [positions](const Tensors& t) {
    ops::embedding_backward(t["dwte"], positions ? t["dwpe"] : Tensor{}, t["dout"], t["tokens"]);
  };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"wte", "dwte", true}};
  // The backward adds position gradients at positions 0..T-1 (training starts at position 0), so
  // they are the forward's gradients only at offset 0.
  if (positions && offset == 0) c.gradients.push_back({"wpe", "dwpe", true});
  return c;
}

OpCase rope() {
  OpCase c{"rope (offset 5)", {"rope_forward", "rope_backward"}};
  const Shape s{2, 4, 3, 8};
  Values v(19);
  c.input("x", s, v.uniform(s.numel()));
  c.input("dout", s, v.uniform(s.numel()));
  c.output("out", s);
  c.output("dx", s);
  c.forward = [](const Tensors& t) { ops::rope_forward(t["out"], t["x"], 5, 10000.0f); };
  c.backward = [](const Tensors& t) { ops::rope_backward(t["dx"], t["dout"], 5, 10000.0f); };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"x", "dx"}};
  return c;
}

OpCase softmax_xent() {
  OpCase c{"softmax_xent (one row of large logits)",
           {"softmax_xent_forward", "softmax_xent_backward"}};
  const int64_t N = 6, V = 17;
  const float dloss = 1.0f / N;
  Values v(20);
  std::vector<double> logits = v.uniform(N * V, -3.0, 3.0);
  for (int64_t j = 0; j < V; ++j)
    logits[2 * V + j] = 60.0 + j;  // exp would overflow without the max subtraction
  c.input("logits", {N, V}, logits);
  std::vector<int32_t> targets = v.ids(N, static_cast<int32_t>(V));
  targets[0] = 0;
  targets[1] = static_cast<int32_t>(V - 1);
  c.index("targets", {N}, targets);
  c.input("dlosses", {N}, std::vector<double>(N, dloss));  // the objective's weights
  c.output("losses", {N});
  c.statistic("mean", 1);
  c.output("dlogits", {N, V});
  c.forward = [](const Tensors& t) {
    ops::softmax_xent_forward(t["losses"], t["mean"], t["logits"], t["targets"]);
  };
  c.backward = [dloss](const Tensors& t) {
    ops::softmax_xent_backward(t["dlogits"], t["logits"], t["targets"], dloss);
  };
  c.objective = {{"losses", "dlosses"}};
  c.gradients = {{"logits", "dlogits"}};
  return c;
}

OpCase softmax() {
  OpCase c{"softmax (temperature 0.7)", {"softmax_forward"}};
  const int64_t N = 3, V = 50;
  Values v(21);
  c.input("logits", {N, V}, v.uniform(N * V, -5.0, 5.0));
  c.output("probs", {N, V});
  c.forward = [](const Tensors& t) { ops::softmax_forward(t["probs"], t["logits"], 0.7f); };
  return c;
}

// Three AdamW steps with weight decay on the same gradient.
OpCase adamw() {
  OpCase c{"adamw (3 steps, weight decay)", {"adamw_update"}};
  const int64_t n = 300;
  Values v(22);
  c.input("grad", {n}, v.uniform(n));
  c.output("param", {n}, v.uniform(n));
  c.output("m", {n});
  c.output("v", {n});
  c.forward = [](const Tensors& t) {
    for (int64_t step = 1; step <= 3; ++step) {
      ops::AdamWArgs args;
      args.lr = 1e-2f;
      args.weight_decay = 0.1f;
      args.step = step;
      ops::adamw_update(t["param"], t["grad"], t["m"], t["v"], args);
    }
  };
  return c;
}

}  // namespace

std::vector<OpCase> layer_cases() {
  return {layernorm(true),
          layernorm(false),
          rmsnorm(),
          linear(true),
          linear(false),
          linear_accumulating_dx(),
          grouped_linear("grouped_linear (4 experts, one idle, unused rows)", {0, 5, 9, 9, 12}, 14),
          grouped_linear("grouped_linear (dx accumulated, unused rows)", {0, 5, 9, 9, 12}, 14,
                         InputGrad::Accumulate),
          grouped_linear("grouped_linear (dense: 1 group)", {0, 10}, 10),
          embedding(true, 0),
          embedding(true, 3),
          embedding(false, 0),
          rope(),
          softmax_xent(),
          softmax(),
          adamw()};
}

}  // namespace moe::backend_ops
