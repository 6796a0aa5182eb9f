#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "compare/compare.h"
#include "core/check.h"
#include "core/fs.h"
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

}  // namespace
}  // namespace moe
