// Router noise at evaluation (model.router_noise_at_eval): off by default, deterministic given the
// evaluation's key, and never a change to training.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/arena.h"
#include "data/synthetic_source.h"
#include "ops/device.h"
#include "train/evaluator.h"
#include "train/trainer.h"

namespace moe {
namespace {

ModelConfig tiny_gpt(const std::string& router) {
  ModelConfig m = RunConfig::preset("makemoe").model;
  m.vocab_size = 16;
  m.n_layers = 2;
  m.n_embed = 32;
  m.n_heads = 4;
  m.block_size = 8;
  m.ffn_hidden = 32;
  m.n_experts = 4;
  m.router = router;
  return m;
}

// An evaluator over a small synthetic stream for a model of `cfg`.
struct EvalSetup {
  explicit EvalSetup(const ModelConfig& cfg)
      : ids(synthetic_tokens(16, 2000, 9)),
        model(cfg),
        sampler(TokenSpan::of(ids), 4, cfg.block_size),
        tokens(arena.alloc(Shape{4, cfg.block_size}, DType::I32)),
        targets(arena.alloc(Shape{4, cfg.block_size}, DType::I32)) {
    model.init_parameters(3);
    model.allocate(4, cfg.block_size);
  }
  std::vector<int32_t> ids;
  Model model;
  BatchSampler sampler;
  Arena arena{ops::device_memory(Device::CPU)};
  Tensor tokens, targets;  // (4, block_size) I32
};

TEST(Evaluator, RouterNoiseAtEvalIsOptInAndDeterministic) {
  ModelConfig cfg = tiny_gpt("noisy_topk");
  EXPECT_FALSE(cfg.router_noise_at_eval);
  EvalSetup s(cfg);
  Evaluator ev(s.model, s.tokens, s.targets);
  const double clean = ev.random_windows(s.sampler, 5, 100, 1.0f).loss;
  EXPECT_EQ(ev.random_windows(s.sampler, 5, 100, 1.0f).loss, clean);
  const double clean_contiguous = ev.contiguous(s.sampler, 5, 100, 1.0f).loss;
  EXPECT_EQ(ev.contiguous(s.sampler, 5, 200, 1.0f).loss, clean_contiguous);  // key unused

  ev.set_router_noise(true);
  const double noisy = ev.random_windows(s.sampler, 5, 100, 1.0f).loss;
  EXPECT_NE(noisy, clean);
  EXPECT_EQ(ev.random_windows(s.sampler, 5, 100, 1.0f).loss, noisy);  // fixed noise per batch
  const double noisy_contiguous = ev.contiguous(s.sampler, 5, 100, 1.0f).loss;
  EXPECT_NE(noisy_contiguous, clean_contiguous);
  EXPECT_EQ(ev.contiguous(s.sampler, 5, 100, 1.0f).loss, noisy_contiguous);
  EXPECT_NE(ev.contiguous(s.sampler, 5, 200, 1.0f).loss, noisy_contiguous);  // other key

  // The model's setting is the default.
  cfg.router_noise_at_eval = true;
  EvalSetup on(cfg);
  EXPECT_EQ(
      Evaluator(on.model, on.tokens, on.targets).random_windows(on.sampler, 5, 100, 1.0f).loss,
      noisy);
}

TEST(Evaluator, RoutersWithoutNoiseIgnoreIt) {
  EvalSetup s(tiny_gpt("topk"));
  Evaluator ev(s.model, s.tokens, s.targets);
  const double clean = ev.random_windows(s.sampler, 3, 7, 1.0f).loss;
  ev.set_router_noise(true);
  EXPECT_EQ(ev.random_windows(s.sampler, 3, 7, 1.0f).loss, clean);
}

struct Losses {
  std::vector<double> steps, evals;
};

Losses train_losses(bool noise_at_eval, const std::string& name) {
  RunConfig c;
  c.model = tiny_gpt("noisy_topk");
  c.model.router_noise_at_eval = noise_at_eval;
  c.data.source = "synthetic";
  c.data.synthetic_tokens = 5000;
  c.train.batch_size = 4;
  c.train.steps = 6;
  c.train.eval_every = 3;
  c.train.eval_iters = 3;
  c.train.ckpt_every = 0;
  TrainOptions opt;
  opt.out_dir = ::testing::TempDir() + "/evaluator_" + name;
  std::filesystem::remove_all(opt.out_dir);
  opt.quiet = true;
  train(c, opt);
  Losses out;
  std::ifstream f(opt.out_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "step") out.steps.push_back(j["loss"]);
    if (j["type"] == "eval") {
      out.evals.push_back(j["train_loss"]);
      out.evals.push_back(j["val_loss"]);
    }
  }
  return out;
}

TEST(Evaluator, TrainingEvalsDrawNoiseOnlyWhenAskedAndTrainingIsUnchanged) {
  const Losses off = train_losses(false, "off"), on = train_losses(true, "on"),
               again = train_losses(true, "again");
  ASSERT_EQ(off.steps.size(), 6u);
  ASSERT_EQ(off.evals.size(), 4u);
  EXPECT_EQ(on.steps, off.steps);  // the option touches evaluation only
  for (size_t i = 0; i < off.evals.size(); ++i)
    EXPECT_NE(on.evals[i], off.evals[i]) << i;
  EXPECT_EQ(again.evals, on.evals);  // deterministic given the seed
}

// With at most kTopTokens distinct tokens, each expert's list holds every token routed to it, so
// the host counts must add up to the device's expert fractions: usage x assignments per expert.
TEST(Evaluator, TopTokensCountEveryAssignmentOfTheEvaluation) {
  ModelConfig cfg = tiny_gpt("topk");
  cfg.vocab_size = static_cast<int64_t>(kTopTokens);
  EvalSetup s(cfg);
  const std::vector<int32_t> ids = synthetic_tokens(static_cast<int32_t>(kTopTokens), 2000, 9);
  BatchSampler sampler(TokenSpan::of(ids), 4, cfg.block_size);
  Evaluator ev(s.model, s.tokens, s.targets);
  const EvalResult r = ev.random_windows(sampler, 5, 100, 1.0f);
  const int64_t assignments = r.tokens * cfg.top_k;
  ASSERT_EQ(r.routing.size(), 2u);
  for (const LayerRouting& lr : r.routing) {
    ASSERT_EQ(lr.top_tokens.size(), static_cast<size_t>(cfg.n_experts));
    int64_t total = 0;
    for (size_t e = 0; e < lr.top_tokens.size(); ++e) {
      int64_t expert_total = 0;
      for (size_t i = 0; i < lr.top_tokens[e].size(); ++i) {
        const auto [id, count] = lr.top_tokens[e][i];
        EXPECT_GE(id, 0);
        EXPECT_LT(id, cfg.vocab_size);
        if (i > 0) {  // most frequent first, ties by id
          const auto [prev_id, prev_count] = lr.top_tokens[e][i - 1];
          EXPECT_TRUE(prev_count > count || (prev_count == count && prev_id < id));
        }
        expert_total += count;
      }
      EXPECT_NEAR(static_cast<double>(expert_total),
                  lr.expert_usage[e] * static_cast<double>(assignments), 1e-3);
      total += expert_total;
    }
    EXPECT_EQ(total, assignments);
  }
  // A second evaluation counts afresh.
  const EvalResult again = ev.random_windows(sampler, 5, 100, 1.0f);
  EXPECT_EQ(again.routing[0].top_tokens, r.routing[0].top_tokens);
}

}  // namespace
}  // namespace moe
