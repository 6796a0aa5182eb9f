// Scored routing (ops/router_scores.h): sigmoid or softmax scores with selection biases, the load
// counts and the bias update of auxiliary-loss-free balancing (the losses of sigmoid scores are
// router_losses in cases_moe.cpp).
#include <string>

#include "harness.h"
#include "ops/router_scores.h"

namespace moe::backend_ops {

namespace {

constexpr int64_t kTokens = 12, kExperts = 5;

// Top-k on s + bias, gates from the unbiased s (renormalised, scaled). The biases (about the
// size of the scores' spread) change which experts are kept; none of the keys tie.
OpCase scored_router(RouterScore score, bool biased, float scaling, uint32_t seed) {
  const std::string name =
      std::string("scored router (") +
      (score == RouterScore::Sigmoid ? "sigmoid" : "softmax, temperature 0.7") +
      (biased ? ", biased" : "") + ")";
  OpCase c{name, {"scored_router_forward", "scored_router_backward"}};
  const int64_t N = kTokens, E = kExperts, k = 2;
  Values v(seed);
  c.input("logits", {N, E}, v.uniform(N * E, -2.0, 2.0));
  c.input("bias", {E}, v.uniform(E, -0.3, 0.3));
  c.input("dgates", {N, k}, v.uniform(N * k));
  c.index_output("topk", {N, k});
  c.output("gates", {N, k});
  c.output("dlogits", {N, E});
  ScoredRouterArgs args;
  args.top_k = static_cast<int>(k);
  args.score = score;
  args.temperature = score == RouterScore::Softmax ? 0.7f : 1.0f;
  args.scaling = scaling;
  c.forward = [biased, args](const Tensors& t) {
    ops::scored_router_forward(t["topk"], t["gates"], t["logits"], biased ? t["bias"] : Tensor{},
                               args);
  };
  c.backward = [args](const Tensors& t) {
    ops::scored_router_backward(t["dlogits"], t["dgates"], t["topk"], t["gates"], t["logits"],
                                args);
  };
  c.objective = {{"gates", "dgates"}};
  c.gradients = {{"logits", "dlogits"}};
  return c;
}

// Counts added onto the loads, then the sign update: experts above the mean go down by gamma, below
// go up, one exactly at the mean keeps its bias; loads end at 0.
OpCase router_balance() {
  OpCase c{"router load and bias update", {"router_load_accumulate", "router_bias_update"}};
  const int64_t N = kTokens, E = kExperts, k = 2;
  c.index("topk", {N, k}, {0, 1, 0, 2, 0, 1, 3, 0, 1, 0, 2, 0, 0, 1, 3, 0, 1, 2, 0, 1, 0, 2, 1, 0});
  // With the 24 assignments above (0: 11, 1: 7, 2: 4, 3: 2, 4: 0) the loads become
  // 11, 7, 6, 4, 2: 30 in total, mean 6, so expert 2 sits exactly at it.
  c.statistic("load", E);  // F64 whole-number counts on every backend
  c.buffers.back().values = {0, 0, 2, 2, 2};
  c.output("bias", {E}, {0.5, -0.25, 0.125, 0.0, -1.0});
  c.forward = [](const Tensors& t) {
    ops::router_load_accumulate(t["load"], t["topk"]);
    ops::router_bias_update(t["bias"], t["load"], 0.0625f);
  };
  return c;
}

}  // namespace

std::vector<OpCase> router_score_cases() {
  return {scored_router(RouterScore::Sigmoid, false, 1.0f, 42),
          scored_router(RouterScore::Sigmoid, true, 2.5f, 43),
          scored_router(RouterScore::Softmax, true, 1.0f, 44), router_balance()};
}

}  // namespace moe::backend_ops
