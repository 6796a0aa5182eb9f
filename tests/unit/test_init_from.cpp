#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/checkpoint.h"
#include "train/train_state.h"
#include "train/trainer.h"
#include "unit/scratch.h"

namespace moe {
namespace {

using testing::error_of;
using testing::ScratchDir;

RunConfig synthetic_run(int64_t steps) {
  RunConfig c = RunConfig::preset("llama-moe-tiny");
  c.data.source = "synthetic";
  c.data.synthetic_tokens = 20000;
  c.model.vocab_size = 16;
  c.model.n_layers = 2;
  c.model.n_embed = 32;
  c.model.n_heads = 4;
  c.model.n_kv_heads = 2;
  c.model.block_size = 16;
  c.model.ffn_hidden = 48;
  c.model.n_experts = 4;
  c.train.batch_size = 8;
  c.train.steps = steps;
  c.train.warmup_steps = 0;
  c.train.eval_every = 0;
  c.train.eval_iters = 2;
  c.train.ckpt_every = 0;
  return c;
}

TrainResult run(const RunConfig& config, const std::string& out) {
  TrainOptions opt;
  opt.out_dir = out;
  opt.quiet = true;
  return train(config, opt);
}

struct Saved {
  LoadedCheckpoint weights;
  std::vector<float> m, v;
  TrainState state;
};

Saved read_run(const std::string& run_dir) {
  Saved s{load_checkpoint(run_dir), {}, {}, {}};
  const int64_t n = s.weights.model->param_count();
  s.m.resize(n);
  s.v.resize(n);
  s.state.adam_m = cpu_tensor(s.m.data(), Shape{n});
  s.state.adam_v = cpu_tensor(s.v.data(), Shape{n});
  load_train_state(s.weights.dir, *s.weights.model, s.state);
  return s;
}

std::vector<float> weights(const Model& m) {
  const Tensor t = m.params().flat_values();
  return {t.f32(), t.f32() + t.numel()};
}

// Moments whose first step started from zero hold m = (1 - b1) g and v = (1 - b2) g^2, so
// m^2 (1 - b2) = v (1 - b1)^2; counts the entries where that fails.
int64_t entries_not_from_one_fresh_step(const Saved& s, const TrainConfig& tc) {
  int64_t bad = 0;
  const double b1 = tc.beta1, b2 = tc.beta2;
  for (size_t i = 0; i < s.m.size(); ++i) {
    const double lhs = double(s.m[i]) * s.m[i] * (1 - b2),
                 rhs = double(s.v[i]) * (1 - b1) * (1 - b1);
    if (std::abs(lhs - rhs) > 1e-4 * std::max(lhs, rhs) + 1e-30) ++bad;
  }
  return bad;
}

TEST(InitFrom, StartsFromTheCheckpointWeightsWithAFreshOptimizer) {
  ScratchDir dir;
  run(synthetic_run(20), dir / "base");
  RunConfig tune = synthetic_run(1);
  tune.train.init_from = dir / "base";
  tune.train.lr = 0.0f;  // one step that moves no weight but fills the moments
  tune.train.min_lr = 0.0f;
  tune.train.seed = 99;
  const TrainResult r = run(tune, dir / "tune");
  EXPECT_EQ(r.steps, 1);

  const Saved base = read_run(dir / "base"), tuned = read_run(dir / "tune");
  EXPECT_EQ(weights(*tuned.weights.model), weights(*base.weights.model));
  EXPECT_EQ(tuned.state.step, 1);
  EXPECT_EQ(entries_not_from_one_fresh_step(tuned, tune.train), 0);
  EXPECT_GT(entries_not_from_one_fresh_step(base, tune.train), 0);  // 20 steps of history
  // The run records where its weights came from, and keeps its own train settings.
  EXPECT_EQ(tuned.weights.config.train.init_from, dir / "base");
  EXPECT_EQ(tuned.weights.config.train.seed, 99);
}

TEST(InitFrom, TheRunChoosesTheModelSettingsThatOnlyShapeTraining) {
  ScratchDir dir;
  RunConfig base_run = synthetic_run(2);
  base_run.model.dropout = 0.0f;
  run(base_run, dir / "base");
  RunConfig tune = synthetic_run(2);
  tune.train.init_from = dir / "base";
  tune.model.dropout = 0.2f;
  tune.model.aux_loss_coef = 0.05f;
  tune.model.z_loss_coef = 0.001f;
  tune.model.capacity_factor = 1.5f;
  run(tune, dir / "tune");
  const ModelConfig saved = read_run(dir / "tune").weights.config.model;
  EXPECT_EQ(saved.dropout, 0.2f);
  EXPECT_EQ(saved.aux_loss_coef, 0.05f);
  EXPECT_EQ(saved.z_loss_coef, 0.001f);
  EXPECT_EQ(saved.capacity_factor, 1.5f);
}

TEST(InitFrom, RefusesAnotherModelOrAnotherKindOfData) {
  ScratchDir dir;
  run(synthetic_run(2), dir / "base");
  RunConfig wider = synthetic_run(2);
  wider.train.init_from = dir / "base";
  wider.model.ffn_hidden = 64;
  const std::string e = error_of([&] { run(wider, dir / "a"); });
  EXPECT_NE(e.find("model.ffn_hidden = 48 but this run sets 64"), std::string::npos) << e;

  RunConfig text = synthetic_run(2);
  text.train.init_from = dir / "base";
  text.data.source = "shakespeare";
  EXPECT_NE(error_of([&] { run(text, dir / "b"); }).find("has no tokenizer"), std::string::npos);

  RunConfig missing = synthetic_run(2);
  missing.train.init_from = dir / "nothing";
  EXPECT_NE(error_of([&] { run(missing, dir / "c"); }).find("nothing"), std::string::npos);
}

}  // namespace
}  // namespace moe
