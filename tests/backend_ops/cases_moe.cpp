// The router, its losses, and sparse dispatch through the grouped GEMM (an MoE layer's core).
#include <string>

#include "harness.h"
#include "ops/expert_choice.h"
#include "ops/grouped_gemm.h"
#include "ops/moe_permute.h"
#include "ops/moe_router.h"
#include "ops/router_balance.h"
#include "ops/softmax_xent.h"

namespace moe::backend_ops {

namespace {

constexpr int64_t kTokens = 12, kExperts = 4;

// Top-k gating, clean or noisy (eps * softplus(noise_logits) added) with a temperature.
OpCase router(bool noisy) {
  OpCase c{noisy ? "router (noisy, temperature 0.8)" : "router (clean)",
           {"router_forward", "router_backward"}};
  const int64_t N = kTokens, E = kExperts, k = 2;
  Values v(noisy ? 30 : 31);
  c.input("logits", {N, E}, v.uniform(N * E, -2.0, 2.0));
  c.input("noise_logits", {N, E}, v.uniform(N * E));
  c.input("noise_eps", {N, E}, v.uniform(N * E, -2.0, 2.0));
  c.input("dgates", {N, k}, v.uniform(N * k));
  c.index_output("topk", {N, k});
  c.output("gates", {N, k});
  c.output("dlogits", {N, E});
  c.output("dnoise_logits", {N, E});
  ops::RouterArgs args;
  args.top_k = static_cast<int>(k);
  args.temperature = noisy ? 0.8f : 1.0f;
  c.forward = [noisy, args](const Tensors& t) {
    ops::router_forward(t["topk"], t["gates"], t["logits"], noisy ? t["noise_logits"] : Tensor{},
                        noisy ? t["noise_eps"] : Tensor{}, args);
  };
  c.backward = [noisy, args](const Tensors& t) {
    ops::router_backward(t["dlogits"], noisy ? t["dnoise_logits"] : Tensor{}, t["dgates"],
                         t["topk"], t["gates"], noisy ? t["noise_logits"] : Tensor{},
                         noisy ? t["noise_eps"] : Tensor{}, args);
  };
  c.objective = {{"gates", "dgates"}};
  c.gradients = {{"logits", "dlogits"}};
  if (noisy) c.gradients.push_back({"noise_logits", "dnoise_logits"});
  return c;
}

// Rows of equal logits: ties go to the lower expert index, in every dtype. (No gradient check:
// the selection is not differentiable at a tie.)
OpCase router_ties() {
  OpCase c{"router (top-k ties)", {"router_forward", "router_backward"}};
  const int64_t N = 4, E = kExperts, k = 2;
  c.input("logits", {N, E},
          {0.5, 0.5, 0.5, 0.1, 0.2, 0.9, 0.9, 0.9, 0.0, 0.0, 0.0, 0.0, -1.0, 2.0, -1.0, 2.0});
  c.input("dgates", {N, k}, Values(32).uniform(N * k));
  c.index_output("topk", {N, k});
  c.output("gates", {N, k});
  c.output("dlogits", {N, E});
  ops::RouterArgs args;
  args.top_k = static_cast<int>(k);
  c.forward = [args](const Tensors& t) {
    ops::router_forward(t["topk"], t["gates"], t["logits"], Tensor{}, Tensor{}, args);
  };
  c.backward = [args](const Tensors& t) {
    ops::router_backward(t["dlogits"], Tensor{}, t["dgates"], t["topk"], t["gates"], Tensor{},
                         Tensor{}, args);
  };
  return c;
}

// The load-balancing and z losses and the entropy (statistics) on the normalised scores of either
// score function, expert fractions, and their gradient added onto what dlogits held.
OpCase router_losses(RouterScore score, uint32_t seed, const std::vector<int32_t>& used) {
  const bool softmax = score == RouterScore::Softmax;
  OpCase c{std::string("router losses (") + (softmax ? "softmax, temperature 0.9" : "sigmoid") +
               ", an idle expert)",
           {"router_losses_forward", "router_losses_backward"}};
  const int64_t N = kTokens, E = kExperts, k = 2;
  Values v(seed);
  c.input("logits", {N, E}, v.uniform(N * E, -2.0, 2.0));
  c.index("topk", {N, k}, v.topk(N, k, used));
  c.output("fraction", {E});
  c.statistic("stats", ops::kRouterLossStats);
  c.output("dlogits", {N, E}, v.uniform(N * E));
  ops::RouterLossArgs args;
  args.score = score;
  args.temperature = softmax ? 0.9f : 1.0f;
  c.forward = [args](const Tensors& t) {
    ops::router_losses_forward(t["stats"], t["fraction"], t["logits"], t["topk"], args);
  };
  c.backward = [args](const Tensors& t) {
    ops::router_losses_backward(t["dlogits"], t["logits"], t["fraction"], args, 0.01f, 0.001f);
  };
  return c;
}

// Balance losses over segments (the sequence-wise loss: 3 sequences of 4 tokens; global-batch
// balancing: one segment with given fractions), the normalisation that feeds them its scores
// (softmax, or sigmoid scores over their row sum), and the gradient back to the logits added onto
// what dlogits held.
OpCase balance_losses(int64_t segments, RouterScore score) {
  const bool sigmoid = score == RouterScore::Sigmoid;
  std::string name = segments > 1 ? "balance loss (3 sequences, an idle expert"
                                  : "balance loss (one segment, the step's fractions";
  name += sigmoid ? ", sigmoid scores)" : ")";
  OpCase c{std::move(name),
           {sigmoid ? "normalized_sigmoid_forward" : "softmax_forward", "segment_fractions",
            "balance_loss_forward", "balance_loss_backward",
            sigmoid ? "normalized_sigmoid_backward" : "softmax_backward"}};
  const int64_t N = kTokens, E = kExperts, k = 2, S = segments;
  Values v(35 + static_cast<uint32_t>(segments) + (sigmoid ? 10u : 0u));
  c.input("logits", {N, E}, v.uniform(N * E, -2.0, 2.0));
  c.index("topk", {N, k}, v.topk(N, k, {0, 2, 3}));
  if (S == 1)
    c.input("fraction", {1, E}, {0.375, 0.125, 0.0, 0.5});
  else
    c.output("fraction", {S, E});
  c.output("probs", {N, E});
  c.statistic("loss", 1);
  c.output("dprobs", {N, E});
  c.output("dlogits", {N, E}, v.uniform(N * E));
  c.forward = [S, sigmoid](const Tensors& t) {
    if (sigmoid)
      ops::normalized_sigmoid_forward(t["probs"], t["logits"]);
    else
      ops::softmax_forward(t["probs"], t["logits"], 0.8f);
    if (S > 1) ops::segment_fractions(t["fraction"], t["topk"]);
    ops::balance_loss_forward(t["loss"], t["probs"], t["fraction"]);
  };
  c.backward = [sigmoid](const Tensors& t) {
    ops::balance_loss_backward(t["dprobs"], t["fraction"], 0.3f);
    if (sigmoid)
      ops::normalized_sigmoid_backward(t["dlogits"], t["dprobs"], t["probs"], t["logits"]);
    else
      ops::softmax_backward(t["dlogits"], t["dprobs"], t["probs"], 0.8f);
  };
  return c;
}

// softmax_backward alone, checked against finite differences of softmax_forward.
OpCase softmax_backward() {
  OpCase c{"softmax backward (temperature 0.7)", {"softmax_forward", "softmax_backward"}};
  const int64_t N = kTokens, E = kExperts;
  Values v(37);
  c.input("logits", {N, E}, v.uniform(N * E, -2.0, 2.0));
  c.input("dprobs", {N, E}, v.uniform(N * E));
  c.output("probs", {N, E});
  c.output("dlogits", {N, E}, v.uniform(N * E));
  c.forward = [](const Tensors& t) { ops::softmax_forward(t["probs"], t["logits"], 0.7f); };
  c.backward = [](const Tensors& t) {
    ops::softmax_backward(t["dlogits"], t["dprobs"], t["probs"], 0.7f);
  };
  c.objective = {{"probs", "dprobs"}};
  c.gradients = {{"logits", "dlogits", true}};
  return c;
}

// normalized_sigmoid_backward alone, checked against finite differences of
// normalized_sigmoid_forward; logits reach both tails of the sigmoid.
OpCase normalized_sigmoid() {
  OpCase c{"normalized sigmoid scores",
           {"normalized_sigmoid_forward", "normalized_sigmoid_backward"}};
  const int64_t N = kTokens, E = kExperts;
  Values v(38);
  c.input("logits", {N, E}, v.uniform(N * E, -6.0, 6.0));
  c.input("dprobs", {N, E}, v.uniform(N * E));
  c.output("probs", {N, E});
  c.output("dlogits", {N, E}, v.uniform(N * E));
  c.forward = [](const Tensors& t) { ops::normalized_sigmoid_forward(t["probs"], t["logits"]); };
  c.backward = [](const Tensors& t) {
    ops::normalized_sigmoid_backward(t["dlogits"], t["dprobs"], t["probs"], t["logits"]);
  };
  c.objective = {{"probs", "dprobs"}};
  c.gradients = {{"logits", "dlogits", true}};
  return c;
}

// Plan, gather, per-expert GEMM, gate-weighted scatter, and the backward of all four: the MoE
// layer's dispatch. Rows of the expert-ordered buffers past the routed ones keep their contents.
OpCase dispatch(std::string name, std::vector<int32_t> experts_used, int64_t capacity) {
  OpCase c{std::move(name),
           {"moe_dispatch_plan", "moe_gather", "moe_scatter", "moe_scatter_backward",
            "moe_gather_backward", "grouped_linear_forward", "grouped_linear_backward"}};
  const int64_t N = kTokens, E = kExperts, k = 2, C = 8, O = 6, slots = N * k;
  Values v(34 + static_cast<uint32_t>(capacity));
  c.index("topk", {N, k}, v.topk(N, k, experts_used));
  c.input("x", {N, C}, v.uniform(N * C));
  c.input("w", {E, O, C}, v.uniform(E * O * C));
  c.input("gates", {N, k}, v.uniform(N * k, 0.0, 1.0));
  c.input("dy", {N, O}, v.uniform(N * O));
  c.index_output("offsets", {E + 1});
  c.index_output("sorted_slots", {slots});
  c.index_output("slot_rows", {slots});
  c.index_output("dropped", {1});
  const std::vector<double> sentinel(static_cast<size_t>(slots * C), 7.0);
  c.output("xs", {slots, C}, sentinel);
  c.output("ys", {slots, O}, std::vector<double>(slots * O, 7.0));
  c.output("y", {N, O});
  c.output("dys", {slots, O}, std::vector<double>(slots * O, 7.0));
  c.output("dgates", {N, k});
  c.output("dxs", {slots, C}, sentinel);
  c.output("dw", {E, O, C}, v.uniform(E * O * C));
  c.output("dx", {N, C});
  c.forward = [capacity](const Tensors& t) {
    ops::moe_dispatch_plan(t["offsets"], t["sorted_slots"], t["slot_rows"], t["dropped"], t["topk"],
                           kExperts, capacity);
    ops::moe_gather(t["xs"], t["x"], t["sorted_slots"], t["offsets"], 2);
    ops::grouped_linear_forward(t["ys"], t["xs"], t["w"], Tensor{}, t["offsets"]);
    ops::moe_scatter(t["y"], t["ys"], t["gates"], t["slot_rows"]);
  };
  c.backward = [](const Tensors& t) {
    ops::moe_scatter_backward(t["dys"], t["dgates"], t["dy"], t["ys"], t["gates"], t["slot_rows"],
                              t["sorted_slots"], t["offsets"]);
    ops::grouped_linear_backward(t["dxs"], t["dw"], Tensor{}, t["dys"], t["xs"], t["w"],
                                 t["offsets"]);
    ops::moe_gather_backward(t["dx"], t["dxs"], t["slot_rows"], 2);
  };
  c.objective = {{"y", "dy"}};
  c.gradients = {{"x", "dx"}, {"w", "dw", true}, {"gates", "dgates"}};
  return c;
}

// Expert choice end to end: the full softmax as gates (router_forward with k = E), each expert's
// best `capacity` tokens (expert_choice_plan), then the dispatch ops with k = E. `tied` repeats
// token rows in pairs, so equal gates compete for the last places and the lower token must win.
OpCase expert_choice(std::string name, int64_t capacity, bool tied) {
  OpCase c{std::move(name),
           {"router_forward", "expert_choice_plan", "moe_gather", "moe_scatter",
            "moe_scatter_backward", "moe_gather_backward", "router_backward",
            "grouped_linear_forward", "grouped_linear_backward"}};
  // The experts' rows are E * capacity, fewer than the N*E candidate slots.
  const int64_t N = kTokens, E = kExperts, C = 8, O = 6, slots = N * E, rows = E * capacity;
  Values v(40 + static_cast<uint32_t>(capacity));
  std::vector<double> logits = v.uniform(N * E, -2.0, 2.0);
  if (tied)
    for (int64_t n = 1; n < N; n += 2)
      std::copy_n(logits.begin() + (n - 1) * E, E, logits.begin() + n * E);
  c.input("logits", {N, E}, logits);
  c.input("x", {N, C}, v.uniform(N * C));
  c.input("w", {E, O, C}, v.uniform(E * O * C));
  c.input("dy", {N, O}, v.uniform(N * O));
  c.index_output("topk", {N, E});
  c.output("gates", {N, E});
  c.index_output("offsets", {E + 1});
  c.index_output("sorted_slots", {rows});
  c.index_output("slot_rows", {slots});
  c.index_output("dropped", {1});
  const std::vector<double> sentinel(static_cast<size_t>(rows * C), 7.0);
  c.output("xs", {rows, C}, sentinel);
  c.output("ys", {rows, O}, std::vector<double>(rows * O, 7.0));
  c.output("y", {N, O});
  c.output("dys", {rows, O}, std::vector<double>(rows * O, 7.0));
  c.output("dgates", {N, E});
  c.output("dxs", {rows, C}, sentinel);
  c.output("dw", {E, O, C}, v.uniform(E * O * C));
  c.output("dx", {N, C});
  c.output("dlogits", {N, E});
  ops::RouterArgs args;
  args.top_k = static_cast<int>(E);
  args.temperature = 0.9f;
  c.forward = [capacity, args](const Tensors& t) {
    ops::router_forward(t["topk"], t["gates"], t["logits"], Tensor{}, Tensor{}, args);
    ops::expert_choice_plan(t["offsets"], t["sorted_slots"], t["slot_rows"], t["dropped"],
                            t["topk"], t["gates"], kExperts, capacity);
    ops::moe_gather(t["xs"], t["x"], t["sorted_slots"], t["offsets"], kExperts);
    ops::grouped_linear_forward(t["ys"], t["xs"], t["w"], Tensor{}, t["offsets"]);
    ops::moe_scatter(t["y"], t["ys"], t["gates"], t["slot_rows"]);
  };
  c.backward = [args](const Tensors& t) {
    ops::moe_scatter_backward(t["dys"], t["dgates"], t["dy"], t["ys"], t["gates"], t["slot_rows"],
                              t["sorted_slots"], t["offsets"]);
    ops::grouped_linear_backward(t["dxs"], t["dw"], Tensor{}, t["dys"], t["xs"], t["w"],
                                 t["offsets"]);
    ops::moe_gather_backward(t["dx"], t["dxs"], t["slot_rows"], kExperts);
    ops::router_backward(t["dlogits"], Tensor{}, t["dgates"], t["topk"], t["gates"], Tensor{},
                         Tensor{}, args);
  };
  c.objective = {{"y", "dy"}};
  c.gradients = {{"x", "dx"}, {"w", "dw", true}};
  // At a tie the selection is not differentiable, so only untied logits get finite differences.
  if (!tied) c.gradients.push_back({"logits", "dlogits"});
  return c;
}

}  // namespace

std::vector<OpCase> moe_cases() {
  return {router(false),
          router(true),
          router_ties(),
          router_losses(RouterScore::Softmax, 33, {0, 1, 3}),
          router_losses(RouterScore::Sigmoid, 41, {0, 2, 3}),
          balance_losses(3, RouterScore::Softmax),
          balance_losses(1, RouterScore::Softmax),
          balance_losses(3, RouterScore::Sigmoid),
          balance_losses(1, RouterScore::Sigmoid),
          softmax_backward(),
          normalized_sigmoid(),
          dispatch("moe dispatch (dropless, expert 2 idle)", {0, 1, 3}, 0),
          dispatch("moe dispatch (capacity 6 drops, expert 3 idle)", {0, 1, 2}, 6),
          expert_choice("expert choice (capacity 6 of 12 tokens)", 6, false),
          expert_choice("expert choice (capacity 3, tied token pairs)", 3, true)};
}

}  // namespace moe::backend_ops
