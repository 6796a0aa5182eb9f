#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "model/model.h"
#include "ops/elementwise.h"

namespace moe {
namespace {

// One GPT-style MoE layer with two routed experts, both of them used by every token (top_k = E,
// so no perturbation below changes the routing), and a shared expert.
ModelConfig tiny_moe(bool expert_dropout, float dropout) {
  ModelConfig m;
  m.vocab_size = 7;
  m.block_size = 4;
  m.n_embed = 8;
  m.n_heads = 2;
  m.n_layers = 1;
  m.ffn_hidden = 8;
  m.n_experts = 2;
  m.top_k = 2;
  m.router = "topk";
  m.n_shared_experts = 1;
  m.dropout = dropout;
  m.expert_dropout = expert_dropout;
  m.validate();
  return m;
}

struct Fixture {
  static constexpr int64_t kBatch = 2, kSeq = 4;
  explicit Fixture(const ModelConfig& cfg) : model(cfg) {
    model.init_parameters(5);
    model.allocate(kBatch, kSeq);
    for (int64_t i = 0; i < kBatch * kSeq; ++i) {
      tokens.push_back(static_cast<int32_t>((3 * i + 1) % 7));
      targets.push_back(static_cast<int32_t>((5 * i + 2) % 7));
    }
    ctx.batch = kBatch;
    ctx.seq = kSeq;
    ctx.key = 42;
  }
  double loss() {
    model.forward(ctx, cpu_tensor(tokens.data(), Shape{kBatch, kSeq}),
                  cpu_tensor(targets.data(), Shape{kBatch, kSeq}));
    double stats = 0.0;
    ops::copy(cpu_tensor(&stats, Shape{1}), model.loss_stats().rows(0, 1));
    return stats;
  }
  // Tensors are handles: the values are written through a const Param.
  const Param& param(const std::string& name) {
    for (const Param& p : model.params().params())
      if (p.name == name) return p;
    ADD_FAILURE() << "no parameter " << name;
    return model.params().params().front();
  }
  Model model;
  ForwardContext ctx;
  std::vector<int32_t> tokens, targets;
};

// Backward through the experts' dropout against central differences of the training loss with
// the same masks (the same key): the router gate (whose gradient reads the dropped expert
// outputs), a routed expert's output projection and the shared expert's.
TEST(ExpertDropout, GradientsMatchFiniteDifferences) {
  Fixture f(tiny_moe(true, 0.5f));
  f.ctx.training = true;
  ops::fill(f.model.params().flat_grads(), 0.0f);
  f.loss();
  f.model.backward(f.ctx);
  const std::string moe = "transformer.h.0.block_sparse_moe.";
  for (const std::string name : {moe + "gate.weight", moe + "experts.0.w2.weight",
                                 moe + "experts.1.w2.bias", moe + "shared_experts.0.w2.weight"}) {
    const Param& p = f.param(name);
    const int64_t n = p.shape.numel();
    std::vector<float> grad(static_cast<size_t>(n));
    std::copy(p.grad.f32(), p.grad.f32() + n, grad.begin());
    int64_t nonzero = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float h = 1e-2f, w = p.value.f32()[i];
      p.value.f32()[i] = w + h;
      const double up = f.loss();
      p.value.f32()[i] = w - h;
      const double down = f.loss();
      p.value.f32()[i] = w;
      const double numeric = (up - down) / (2.0 * h);
      EXPECT_NEAR(grad[i], numeric, 2e-3 + 2e-2 * std::abs(numeric)) << name << " [" << i << "]";
      nonzero += grad[i] != 0.0f;
    }
    EXPECT_GT(nonzero, 0) << name;
  }
}

// The masks act in training only, and at the experts' outputs instead of the layer's: evaluation
// is the same model either way, a training forward is not.
TEST(ExpertDropout, ActsInTrainingAtTheExpertsInsteadOfTheLayerOutput) {
  Fixture per_expert(tiny_moe(true, 0.3f)), per_layer(tiny_moe(false, 0.3f));
  Fixture none(tiny_moe(true, 0.0f));
  EXPECT_EQ(per_expert.loss(), per_layer.loss());
  EXPECT_EQ(per_expert.loss(), none.loss());
  for (Fixture* f : {&per_expert, &per_layer, &none})
    f->ctx.training = true;
  const double a = per_expert.loss(), b = per_layer.loss(), c = none.loss();
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(b, c);
}

}  // namespace
}  // namespace moe
