// The model's statistics stay on its device until read: loss_stats() holds the mean cross-entropy
// and each MoE layer's router losses, read_stats() brings them and the routing counts to the host.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "backends/registry.h"
#include "core/check.h"
#include "model/model.h"
#include "ops/elementwise.h"
#include "ops/moe_router.h"

namespace moe {
namespace {

ModelConfig small_moe(float capacity_factor) {
  ModelConfig m = RunConfig::preset("makemoe").model;
  m.vocab_size = 13;
  m.n_layers = 2;
  m.n_embed = 16;
  m.n_heads = 2;
  m.block_size = 8;
  m.ffn_hidden = 32;
  m.n_experts = 4;
  m.top_k = 2;
  m.capacity_factor = capacity_factor;
  return m;
}

struct Batch {
  std::vector<int32_t> tokens, targets;
};

Batch batch(int64_t b, int64_t t, int32_t vocab) {
  Batch out;
  for (int64_t i = 0; i < b * t; ++i) {
    out.tokens.push_back(static_cast<int32_t>((7 * i + 3) % vocab));
    out.targets.push_back(static_cast<int32_t>((5 * i + 1) % vocab));
  }
  return out;
}

// Runs one forward with targets on a fresh model and returns its statistics and logits.
struct ForwardRun {
  ForwardStats stats;
  std::vector<double> loss_stats;
  std::vector<float> logits;
};

ForwardRun forward(const ModelConfig& cfg, Batch& data, int64_t b, int64_t t) {
  Model model(cfg);
  model.init_parameters(11);
  model.allocate(b, t);
  ForwardContext ctx;
  ctx.training = false;
  ctx.batch = b;
  ctx.seq = t;
  model.forward(ctx, cpu_tensor(data.tokens.data(), Shape{b, t}),
                cpu_tensor(data.targets.data(), Shape{b, t}));
  ForwardRun r;
  r.stats = model.read_stats();
  r.loss_stats.resize(static_cast<size_t>(model.loss_stats().numel()));
  ops::copy(cpu_tensor(r.loss_stats.data(), model.loss_stats().shape), model.loss_stats());
  r.logits.resize(static_cast<size_t>(b * t * cfg.vocab_size));
  ops::copy(cpu_tensor(r.logits.data(), Shape{b * t, cfg.vocab_size}), model.logits());
  return r;
}

TEST(ModelStats, LossStatsHoldTheCrossEntropyAndEachLayersRouterLosses) {
  const ModelConfig cfg = small_moe(0.0f);
  const int64_t b = 2, t = 8, v = cfg.vocab_size;
  Batch data = batch(b, t, static_cast<int32_t>(v));
  const ForwardRun r = forward(cfg, data, b, t);

  // Cross-entropy from the logits, in fp64.
  double ce = 0.0;
  for (int64_t i = 0; i < b * t; ++i) {
    const float* row = r.logits.data() + i * v;
    double mx = row[0], sum = 0.0;
    for (int64_t j = 1; j < v; ++j)
      mx = std::max<double>(mx, row[j]);
    for (int64_t j = 0; j < v; ++j)
      sum += std::exp(row[j] - mx);
    ce += (mx + std::log(sum) - row[data.targets[i]]) / static_cast<double>(b * t);
  }
  ASSERT_EQ(r.loss_stats.size(), 1u + ops::kRouterStats * 2);
  EXPECT_NEAR(r.loss_stats[0], ce, 1e-5 * ce);
  EXPECT_EQ(r.stats.loss.ce, r.loss_stats[0]);

  ASSERT_EQ(r.stats.moe.size(), 2u);
  double aux = 0.0, z = 0.0;
  for (size_t l = 0; l < 2; ++l) {
    const MoELayerStats& s = r.stats.moe[l];
    EXPECT_EQ(s.layer, static_cast<int64_t>(l));
    EXPECT_EQ(s.aux_loss, r.loss_stats[1 + ops::kRouterStats * l + ops::kAuxLoss]);
    EXPECT_EQ(s.z_loss, r.loss_stats[1 + ops::kRouterStats * l + ops::kZLoss]);
    EXPECT_EQ(s.entropy, r.loss_stats[1 + ops::kRouterStats * l + ops::kEntropy]);
    EXPECT_GT(s.aux_loss, 0.0);
    EXPECT_GT(s.entropy, 0.0);
    EXPECT_LE(s.entropy, std::log(4.0) + 1e-6);
    ASSERT_EQ(s.expert_fraction.size(), 4u);
    EXPECT_NEAR(std::accumulate(s.expert_fraction.begin(), s.expert_fraction.end(), 0.0), 1.0,
                1e-6);
    EXPECT_EQ(s.dropped, 0);  // dropless
    EXPECT_EQ(s.assignments, b * t * 2);
    aux += s.aux_loss;
    z += s.z_loss;
  }
  EXPECT_DOUBLE_EQ(r.stats.loss.aux, aux);
  EXPECT_DOUBLE_EQ(r.stats.loss.z, z);
  EXPECT_DOUBLE_EQ(r.stats.loss.objective,
                   r.stats.loss.ce + cfg.aux_loss_coef * aux + cfg.z_loss_coef * z);
}

TEST(ModelStats, ACapacityLimitReportsTheDroppedAssignments) {
  // Capacity = ceil(0.5 * 16 * 2 / 4) = 4 per expert: 16 of the 32 assignments fit at most.
  const ModelConfig cfg = small_moe(0.5f);
  const int64_t b = 2, t = 8;
  Batch data = batch(b, t, static_cast<int32_t>(cfg.vocab_size));
  const ForwardRun r = forward(cfg, data, b, t);
  for (const MoELayerStats& s : r.stats.moe) {
    EXPECT_GE(s.dropped, 16);
    EXPECT_LT(s.dropped, 32);
    EXPECT_EQ(s.assignments, 32);
  }
  EXPECT_TRUE(std::isfinite(r.stats.loss.ce));
}

TEST(ModelStats, AModelForADeviceWithoutBackendIsRefusedByName) {
  if (find_backend(Device::CUDA) != nullptr) GTEST_SKIP() << "this machine runs CUDA models";
  try {
    Model model(small_moe(0.0f), ArenaMode::Allocate, Device::CUDA);
    FAIL() << "a CUDA model was built without a CUDA backend";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moe
