#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <ostream>
#include <vector>

#include "core/rng.h"
#include "core/rng_streams.h"
#include "interop/upcycle.h"
#include "model/checkpoint.h"
#include "nn/block.h"
#include "nn/moe_layer.h"
#include "tokenizer/char_tokenizer.h"
#include "unit/scratch.h"

namespace moe {
namespace {

using testing::error_of;
using testing::ScratchDir;

ModelConfig dense_config(const std::string& arch) {
  ModelConfig m = RunConfig::preset(arch == "gpt" ? "makemoe" : "llama-moe-tiny").model;
  m.vocab_size = 20;
  m.n_layers = 3;
  m.n_embed = 32;
  m.n_heads = 4;
  m.n_kv_heads = arch == "gpt" ? 0 : 2;
  m.block_size = 16;
  m.ffn_hidden = 48;
  m.moe_layers = "none";
  return m;
}

std::vector<float> values(const Param& p) {
  return {p.value.f32(), p.value.f32() + p.value.numel()};
}

std::vector<float> values(const Model& m, const std::string& name) {
  const Param* p = m.params().find(name);
  EXPECT_NE(p, nullptr) << name;
  return p ? values(*p) : std::vector<float>{};
}

// The mean cross-entropy of one fixed evaluation batch (no dropout, no router noise).
double eval_loss(Model& model) {
  const int64_t batch = 4, seq = model.config().block_size;
  std::vector<int32_t> tokens(batch * seq), targets(batch * seq);
  for (size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = static_cast<int32_t>((i * 7 + 3) % model.config().vocab_size);
    targets[i] = static_cast<int32_t>((i * 5 + 1) % model.config().vocab_size);
  }
  model.allocate(batch, seq);
  ForwardContext ctx;
  ctx.batch = batch;
  ctx.seq = seq;
  model.forward(ctx, cpu_tensor(tokens.data(), Shape{batch, seq}),
                cpu_tensor(targets.data(), Shape{batch, seq}));
  return model.read_stats().loss.ce;
}

struct Case {
  std::string arch;
  int64_t experts, top_k;
  std::string moe_layers, router;
};

// For test names in CTest (gtest_discover_tests appends the printed parameter).
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.arch << " E=" << c.experts << " k=" << c.top_k << " layers=" << c.moe_layers << " "
      << c.router;
}

class UpcycleModel : public ::testing::TestWithParam<Case> {};

TEST_P(UpcycleModel, StartsAsTheDenseModel) {
  const Case c = GetParam();
  Model dense(dense_config(c.arch));
  dense.init_parameters(rng_key(11, rng_stream::kInit));
  UpcycleOptions o;
  o.n_experts = c.experts;
  o.top_k = c.top_k;
  o.moe_layers = c.moe_layers;
  o.router = c.router;
  const ModelConfig cfg = upcycled_model_config(dense.config(), o);
  const uint64_t seed = rng_key(5, rng_stream::kInit);
  const std::unique_ptr<Model> moe = upcycle_model(dense, cfg, seed);
  Model fresh(cfg);
  fresh.init_parameters(seed);

  // Every expert is its layer's dense FFN; routers are a fresh model's; the rest is copied.
  int64_t experts_checked = 0, routers_checked = 0;
  for (const Param& p : moe->params().params()) {
    bool is_expert = false;
    for (const int64_t layer : cfg.moe_layer_indices())
      for (int64_t e = 0; e < cfg.n_experts; ++e)
        for (const char* proj : {"w1", "w2", "w3"})
          for (const char* suffix : {".weight", ".bias"})
            if (p.name == expert_param_name(moe_layer_prefix(cfg, layer), e, proj) + suffix) {
              EXPECT_EQ(values(p),
                        values(dense, dense_ffn_param_name(dense.config(), layer, proj) + suffix))
                  << p.name;
              is_expert = true;
              ++experts_checked;
            }
    if (is_expert) continue;
    if (dense.params().find(p.name)) {
      EXPECT_EQ(values(p), values(dense, p.name)) << p.name;
    } else {
      const bool router =
          p.name.find(".gate.") != std::string::npos || p.name.find(".noise.") != std::string::npos;
      EXPECT_TRUE(router) << p.name << " is neither copied nor a router";
      EXPECT_EQ(values(p), values(fresh, p.name)) << p.name;
      ++routers_checked;
    }
  }
  const int64_t layers = static_cast<int64_t>(cfg.moe_layer_indices().size());
  const int64_t tensors_per_expert = c.arch == "gpt" ? 4 : 3;
  EXPECT_EQ(experts_checked, layers * c.experts * tensors_per_expert);
  EXPECT_EQ(routers_checked,
            layers * (c.arch == "gpt" ? 2 : 1) * (c.router == "noisy_topk" ? 2 : 1));

  // The gates of the kept experts sum to 1 and the experts are equal: the dense model's loss.
  const double dense_loss = eval_loss(dense), moe_loss = eval_loss(*moe);
  EXPECT_NEAR(moe_loss, dense_loss, 1e-5 * dense_loss);
  EXPECT_NE(eval_loss(fresh), dense_loss);  // the check can fail: a random MoE is another model
}

INSTANTIATE_TEST_SUITE_P(Configs, UpcycleModel,
                         ::testing::Values(Case{"gpt", 4, 2, "all", "topk"},
                                           Case{"llama", 4, 2, "all", "topk"},
                                           Case{"llama", 8, 1, "every:2", "temperature"},
                                           Case{"gpt", 3, 3, "0,2", "noisy_topk"},
                                           Case{"llama", 2, 2, "1", "topk"}),
                         [](const auto& info) {
                           return info.param.arch + "_E" + std::to_string(info.param.experts) +
                                  "_k" + std::to_string(info.param.top_k) + "_" +
                                  std::to_string(info.index);
                         });

// A dense checkpoint with a character tokenizer, written as a run would.
std::string write_dense_checkpoint(const ScratchDir& dir, const std::string& arch) {
  RunConfig config;
  config.model = dense_config(arch);
  Model model(config.model);
  model.init_parameters(rng_key(3, rng_stream::kInit));
  const CharTokenizer tokenizer = CharTokenizer::build("abcdefghijklmnopqrst");
  save_checkpoint(dir / "dense", config, model, &tokenizer, 40);
  return dir / "dense";
}

TEST(UpcycleCheckpoint, WritesAnOrdinaryCheckpointWithTheDenseTokenizer) {
  ScratchDir dir;
  const std::string dense_dir = write_dense_checkpoint(dir, "llama");
  UpcycleOptions o;
  o.checkpoint = dense_dir;
  o.out_dir = dir / "moe";
  o.n_experts = 4;
  o.top_k = 2;
  const UpcycleResult r = upcycle_checkpoint(o);
  EXPECT_EQ(r.model.moe_layers, "all");
  EXPECT_EQ(r.model.router, "topk");
  LoadedCheckpoint dense = load_checkpoint(dense_dir);
  LoadedCheckpoint moe = load_checkpoint(dir / "moe");
  EXPECT_EQ(moe.dir, dir / "moe");
  EXPECT_EQ(moe.config.model.n_experts, 4);
  EXPECT_EQ(moe.model->param_count(), r.params);
  ASSERT_NE(moe.tokenizer, nullptr);
  EXPECT_EQ(moe.tokenizer->decode({0, 1, 2}), dense.tokenizer->decode({0, 1, 2}));
  EXPECT_EQ(checkpoint_weights_step(moe.dir), "0");
  EXPECT_NEAR(eval_loss(*moe.model), eval_loss(*dense.model), 1e-5 * eval_loss(*dense.model));
  // Nothing is left beside it.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"dense", "moe"}));
}

TEST(UpcycleCheckpoint, RefusesBadInputAndWritesNothing) {
  ScratchDir dir;
  const std::string dense_dir = write_dense_checkpoint(dir, "gpt");
  const auto attempt = [&](UpcycleOptions o) {
    if (o.checkpoint.empty()) o.checkpoint = dense_dir;
    if (o.out_dir.empty()) o.out_dir = dir / "out";
    return error_of([&] { upcycle_checkpoint(o); });
  };
  UpcycleOptions one_expert;
  one_expert.n_experts = 1;
  one_expert.top_k = 1;
  EXPECT_NE(attempt(one_expert).find("at least 2"), std::string::npos);
  UpcycleOptions big_k;
  big_k.n_experts = 4;
  big_k.top_k = 5;
  EXPECT_NE(attempt(big_k).find("top-k must be in [1, 4]"), std::string::npos);
  UpcycleOptions zero_k;
  zero_k.top_k = 0;
  EXPECT_NE(attempt(zero_k).find("top-k"), std::string::npos);
  UpcycleOptions missing;
  missing.checkpoint = dir / "nothing";
  EXPECT_NE(attempt(missing).find("nothing"), std::string::npos);
  UpcycleOptions bad_layers;
  bad_layers.moe_layers = "7";
  EXPECT_NE(attempt(bad_layers).find("model.moe_layers"), std::string::npos);
  UpcycleOptions bad_router;
  bad_router.router = "hash";
  EXPECT_NE(attempt(bad_router).find("model.router"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));

  // A MoE input, and an output directory that exists.
  UpcycleOptions first;
  first.checkpoint = dense_dir;
  first.out_dir = dir / "moe";
  upcycle_checkpoint(first);
  UpcycleOptions again;
  again.checkpoint = dir / "moe";
  EXPECT_NE(attempt(again).find("already a MoE model"), std::string::npos);
  UpcycleOptions taken;
  taken.out_dir = dir / "moe";
  EXPECT_NE(attempt(taken).find("already exists"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

}  // namespace
}  // namespace moe
