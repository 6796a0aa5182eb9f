#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "compare/compare.h"
#include "core/check.h"
#include "core/fs.h"
#include "model/model.h"
#include "unit/scratch.h"

namespace moe {
namespace {

using moe::testing::error_of;

// A tiny synthetic-data model that trains in well under a second; `extra` adds TOML lines.
std::string write_config(const std::string& dir, const std::string& name,
                         const std::string& extra) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + name + ".toml";
  std::ofstream(path)
      << "[model]\narch = \"llama\"\nvocab_size = 16\nn_layers = 2\nn_embed = 16\n"
         "n_heads = 2\nblock_size = 8\nffn_hidden = 16\nn_experts = 4\n"
      << extra
      << "\n[train]\nbatch_size = 4\nsteps = 6\neval_every = 3\neval_iters = 2\n"
         "ckpt_every = 0\n[data]\nsource = \"synthetic\"\nsynthetic_tokens = 4000\n";
  return path;
}

std::string fresh_dir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "/compare_" + name;
  std::filesystem::remove_all(d);
  return d;
}

TEST(Compare, SetsAndStepsApplyToEveryConfiguration) {
  const std::string dir = fresh_dir("sets");
  CompareOptions o;
  o.config_files = {write_config(dir, "dense", "moe_layers = \"none\""),
                    write_config(dir, "moe", "top_k = 2")};
  o.sets = {"model.dropout=0.2"};
  o.steps = 9;
  auto configs = load_compare_configs(o);
  ASSERT_EQ(configs.size(), 2u);
  EXPECT_EQ(configs[0].first, "dense");
  EXPECT_EQ(configs[1].first, "moe");
  for (const auto& [name, c] : configs) {
    EXPECT_EQ(c.train.steps, 9) << name;
    EXPECT_FLOAT_EQ(c.model.dropout, 0.2f) << name;
  }
  EXPECT_EQ(configs[1].second.model.top_k, 2);
}

TEST(Compare, RejectsADifferentTokenBudget) {
  const std::string dir = fresh_dir("budget");
  const std::string a = write_config(dir, "a", "");
  // The same configuration with a larger batch.
  std::string text = read_file(a);
  text.replace(text.find("batch_size = 4"), 14, "batch_size = 8");
  const std::string b = dir + "/b.toml";
  std::ofstream(b) << text;
  CompareOptions o;
  o.config_files = {a, b};
  EXPECT_EQ(error_of([&] { load_compare_configs(o); }),
            "configuration b has train.batch_size = 8 but a has 4; compared runs must share "
            "data, seed, token budget and device (set it in every file, or for all with "
            "--set/--steps/--device)");
  // Overriding it for all makes them comparable.
  o.sets = {"train.batch_size=2"};
  EXPECT_EQ(load_compare_configs(o).size(), 2u);
}

TEST(Compare, RejectsDifferentPreparedData) {
  const std::string dir = fresh_dir("prepared");
  CompareOptions o;
  o.config_files = {write_config(dir, "a", ""), write_config(dir, "b", "")};
  // Another directory of shards, or the same shards drawn otherwise, is other data.
  std::ofstream(o.config_files[0], std::ios::app) << "dir = \"shards\"\n";
  std::ofstream(o.config_files[1], std::ios::app) << "dir = \"other\"\nsampling = \"chunks\"\n";
  o.sets = {"data.source=prepared"};
  EXPECT_EQ(error_of([&] { load_compare_configs(o); }),
            "configuration b has data.dir = \"other\" but a has \"shards\"; compared runs must "
            "share data, seed, token budget and device (set it in every file, or for all with "
            "--set/--steps/--device)");
  o.sets.push_back("data.dir=shards");
  EXPECT_NE(error_of([&] { load_compare_configs(o); }).find("b has data.sampling = \"chunks\""),
            std::string::npos);
  o.sets.push_back("data.sampling=chunks");
  EXPECT_EQ(load_compare_configs(o).size(), 2u);
}

TEST(Compare, RejectsMissingFilesAndRepeatedNames) {
  const std::string dir = fresh_dir("names");
  CompareOptions o;
  o.config_files = {write_config(dir, "a", ""), dir + "/nope.toml"};
  EXPECT_EQ(error_of([&] { load_compare_configs(o); }),
            "config file " + dir + "/nope.toml does not exist");
  o.config_files = {write_config(dir, "a", ""), write_config(dir + "/sub", "a", "")};
  EXPECT_EQ(error_of([&] { load_compare_configs(o); }),
            "two configurations are named 'a' (runs are named by file name); rename one");
  o.config_files = {};
  EXPECT_EQ(error_of([&] { load_compare_configs(o); }),
            "compare needs at least one --configs FILE");
}

TEST(Compare, TrainsEveryConfigurationAndKeepsResultsWhenOneFails) {
  const std::string dir = fresh_dir("runs");
  CompareOptions o;
  o.config_files = {write_config(dir + "/cfg", "dense", "moe_layers = \"none\""),
                    write_config(dir + "/cfg", "blocked", ""),
                    write_config(dir + "/cfg", "moe", "top_k = 1")};
  o.out_dir = dir + "/out";
  o.quiet = true;
  // A file where the run directory of "blocked" would go makes its training fail.
  std::filesystem::create_directories(o.out_dir);
  std::ofstream(o.out_dir + "/blocked") << "in the way";
  ::testing::internal::CaptureStdout();
  CompareResult r = compare_runs(o);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("compare: blocked failed: cannot create directory"), std::string::npos) << out;
  EXPECT_EQ(r.failures, 1);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_TRUE(r.rows[0].error.empty());
  EXPECT_FALSE(r.rows[1].error.empty());
  EXPECT_TRUE(r.rows[2].error.empty());
  EXPECT_EQ(r.rows[0].steps, 6);
  EXPECT_EQ(r.rows[2].steps, 6);
  EXPECT_EQ(r.rows[0].params, r.rows[0].active_params);  // dense
  EXPECT_GT(r.rows[2].params, r.rows[2].active_params);  // MoE top-1 of 4
  const std::string md = read_file(o.out_dir + "/summary.md");
  EXPECT_NE(md.find("6 steps of 4 x 8 tokens"), std::string::npos) << md;
  EXPECT_NE(md.find("| blocked | - |"), std::string::npos) << md;
  const std::string csv = read_file(o.out_dir + "/summary.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  const std::string html = read_file(o.out_dir + "/report.html");
  EXPECT_NE(html.find("id=\"heatmap-usage-1\""), std::string::npos);  // moe, the second log
  EXPECT_NE(html.find("dense: dense model"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/moe/report.html"));
}

// The shipped example set (configs/compare) loads, shares one budget, and keeps its matching rules.
TEST(Compare, ShippedExampleSetIsComparable) {
  const std::filesystem::path dir = std::filesystem::path(MOE_SOURCE_DIR) / "configs" / "compare";
  CompareOptions o;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".toml") o.config_files.push_back(entry.path().string());
  std::sort(o.config_files.begin(), o.config_files.end());
  const auto configs = load_compare_configs(o);
  ASSERT_EQ(configs.size(), 5u);
  const RunConfig& dense = configs[0].second;
  const RunConfig& top2 = configs[2].second;
  EXPECT_EQ(configs[0].first, "1_dense");
  EXPECT_TRUE(dense.model.moe_layer_indices().empty());
  // The top-2 row is the makeMoE model; the dense FFN is as wide as the experts a token uses.
  EXPECT_EQ(model_config_json(top2.model).dump(), [] {
    ModelConfig m = RunConfig::preset("makemoe").model;
    m.aux_loss_coef = 0.01f;
    return model_config_json(m).dump();
  }());
  EXPECT_EQ(dense.model.ffn_hidden, top2.model.top_k * top2.model.ffn_hidden);
  EXPECT_EQ(configs[1].second.model.top_k, 1);
  EXPECT_GT(configs[3].second.model.aux_loss_coef, top2.model.aux_loss_coef);
  EXPECT_GT(configs[3].second.model.dropout, top2.model.dropout);
}

// The router tutorial's WikiText-2 set (configs/compare-wikitext): with its 10,000-token vocabulary
// (set at train time by the prepared data) the dense model has the tutorial's 9,924,608 parameters
// and every MoE row its 17,286,656, within 0.1% (bias layout); the rows differ as documented.
TEST(Compare, ShippedWikiTextSetMatchesTheTutorial) {
  const std::filesystem::path dir =
      std::filesystem::path(MOE_SOURCE_DIR) / "configs" / "compare-wikitext";
  CompareOptions o;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".toml") o.config_files.push_back(entry.path().string());
  std::sort(o.config_files.begin(), o.config_files.end());
  o.sets = {"model.vocab_size=10000"};
  const auto configs = load_compare_configs(o);
  ASSERT_EQ(configs.size(), 5u);
  const auto params = [&](size_t row) {
    const Model m(configs[row].second.model, ArenaMode::Measure);
    return std::pair{m.param_count(), m.active_param_count()};
  };
  const auto near = [](int64_t ours, double tutorial) {
    return std::abs(static_cast<double>(ours) - tutorial) < 1e-3 * tutorial;
  };
  EXPECT_EQ(configs[0].first, "1_dense");
  EXPECT_TRUE(configs[0].second.model.moe_layer_indices().empty());
  EXPECT_TRUE(near(params(0).first, 9924608)) << params(0).first;
  const ModelConfig& base = configs[1].second.model;  // the MoE baseline, top-1
  for (size_t row = 1; row < 5; ++row) {
    const ModelConfig& m = configs[row].second.model;
    EXPECT_TRUE(near(params(row).first, 17286656)) << configs[row].first << params(row).first;
    EXPECT_EQ(m.moe_layer_indices(), (std::vector<int64_t>{2, 4})) << configs[row].first;
    EXPECT_EQ(m.n_experts, 8) << configs[row].first;
    // An expert is as wide as the dense FFN, so a top-1 token computes what a dense one does.
    EXPECT_EQ(m.expert_ffn_hidden(), configs[0].second.model.ffn_hidden) << configs[row].first;
  }
  EXPECT_EQ(base.top_k, 1);
  EXPECT_EQ(configs[2].second.model.top_k, 2);
  EXPECT_GT(configs[3].second.model.dropout, base.dropout);
  EXPECT_GT(configs[3].second.train.weight_decay, configs[1].second.train.weight_decay);
  EXPECT_LT(configs[4].second.model.capacity_factor, base.capacity_factor);
  EXPECT_EQ(configs[0].second.data.source, "prepared");
}

}  // namespace
}  // namespace moe
