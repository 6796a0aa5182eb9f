#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/checkpoint.h"
#include "train/stop_signal.h"
#include "train/trainer.h"

namespace moe {
namespace {

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
  c.train.warmup_steps = 10;
  c.train.eval_every = 50;
  c.train.eval_iters = 4;
  c.train.ckpt_every = 0;
  return c;
}

std::string fresh_dir(const std::string& name) {
  std::string d = ::testing::TempDir() + "/trainer_" + name;
  std::filesystem::remove_all(d);
  return d;
}

TEST(Trainer, LearnsTheSyntheticSource) {
  TrainOptions opt;
  opt.out_dir = fresh_dir("learns");
  opt.quiet = true;
  TrainResult r = train(synthetic_run(200), opt);
  EXPECT_EQ(r.steps, 200);
  // The source's successors carry about 0.9 nats; a uniform guess over 16 tokens is ln 16 = 2.77.
  EXPECT_LT(r.val_loss, 1.6) << "val loss " << r.val_loss;
  EXPECT_GT(r.tokens_per_s, 0.0);
  EXPECT_TRUE(std::filesystem::exists(opt.out_dir + "/checkpoint/train_state.safetensors"));
}

TEST(Trainer, EarlyStoppingWhenValLossStopsImproving) {
  RunConfig c = synthetic_run(100);
  // With lr 0 the weights never change, so no eval after the first improves on it.
  c.train.lr = 0.0f;
  c.train.min_lr = 0.0f;
  c.train.eval_every = 10;
  c.train.early_stop_patience = 2;
  TrainOptions opt;
  opt.out_dir = fresh_dir("early");
  opt.quiet = true;
  TrainResult r = train(c, opt);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.steps, 30);  // evals at 10 (best), 20, 30 (second without improvement)
}

TEST(Trainer, MetricsLogHasStepAndEvalRecords) {
  TrainOptions opt;
  opt.out_dir = fresh_dir("metrics");
  opt.quiet = true;
  train(synthetic_run(50), opt);
  std::ifstream f(opt.out_dir + "/metrics.jsonl");
  std::string line;
  int steps = 0, evals = 0, starts = 0;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    const std::string type = j["type"];
    if (type == "start") {
      ++starts;
      EXPECT_GT(j["params"].get<int64_t>(), j["active_params"].get<int64_t>());
    } else if (type == "step") {
      ++steps;
      for (const char* k : {"loss", "aux_loss", "z_loss", "lr", "grad_norm", "tokens_per_s",
                            "forward_ms", "backward_ms", "optimizer_ms"})
        EXPECT_TRUE(j.contains(k)) << k;
    } else if (type == "eval") {
      ++evals;
      ASSERT_EQ(j["moe"].size(), 2u);  // both layers are MoE
      const auto& layer = j["moe"][0];
      double usage = 0;
      for (double u : layer["expert_usage"])
        usage += u;
      EXPECT_NEAR(usage, 1.0, 1e-6);
      EXPECT_LE(layer["entropy"].get<double>(), std::log(4.0) + 1e-6);
      EXPECT_EQ(layer["dropped_fraction"].get<double>(), 0.0);
    }
  }
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(steps, 50);
  EXPECT_EQ(evals, 1);
}

// A stop asked for by a signal ends the run after the current step, with a checkpoint of it.
TEST(Trainer, AStopRequestEndsTheRunAfterTheStepWithACheckpoint) {
  struct Withdraw {
    ~Withdraw() { request_stop(0); }
  } withdraw;
  request_stop(SIGTERM);
  TrainOptions opt;
  opt.out_dir = fresh_dir("stop");
  opt.quiet = true;
  const TrainResult r = train(synthetic_run(50), opt);
  EXPECT_EQ(r.stop_signal, SIGTERM);
  EXPECT_EQ(r.steps, 1);
  EXPECT_EQ(checkpoint_weights_step(resolve_checkpoint_dir(opt.out_dir)), "1");
}

}  // namespace
}  // namespace moe
