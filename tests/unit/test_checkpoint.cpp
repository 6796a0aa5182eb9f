#include <gtest/gtest.h>

#include <filesystem>

#include "core/check.h"
#include "model/checkpoint.h"
#include "ops/elementwise.h"
#include "tokenizer/char_tokenizer.h"
#include "unit/scratch.h"

namespace moe {
namespace {

namespace fs = std::filesystem;

RunConfig small_config() {
  RunConfig c = RunConfig::preset("llama-moe-tiny");
  c.model.n_layers = 2;
  c.model.n_embed = 32;
  c.model.ffn_hidden = 48;
  c.model.n_experts = 4;
  c.model.vocab_size = 20;
  c.data.source = "synthetic";  // the only data without a tokenizer: these tests save none
  return c;
}

std::string fresh_dir(const std::string& name) {
  std::string d = ::testing::TempDir() + "/ckpt_" + name;
  fs::remove_all(d);
  return d;
}

TEST(Checkpoint, RoundTripRestoresWeightsConfigAndTokenizer) {
  RunConfig cfg = small_config();
  Model model(cfg.model);
  model.init_parameters(5);
  CharTokenizer tok = CharTokenizer::build("hello world");
  const std::string run = fresh_dir("roundtrip");
  save_checkpoint(run, cfg, model, &tok, 0);
  EXPECT_TRUE(fs::exists(run + "/checkpoint/model.safetensors"));
  EXPECT_FALSE(fs::exists(run + "/.checkpoint.tmp"));

  LoadedCheckpoint back = load_checkpoint(run);
  EXPECT_EQ(back.config.to_json(), cfg.to_json());
  ASSERT_NE(back.tokenizer, nullptr);
  EXPECT_EQ(back.tokenizer->decode(back.tokenizer->encode("low")), "low");
  const Tensor a = model.params().flat_values(), b = back.model->params().flat_values();
  ASSERT_EQ(a.numel(), b.numel());
  for (int64_t i = 0; i < a.numel(); ++i)
    ASSERT_EQ(a.f32()[i], b.f32()[i]) << i;
}

TEST(Checkpoint, InterruptedSwapFallsBackToTheBackup) {
  RunConfig cfg = small_config();
  Model model(cfg.model);
  model.init_parameters(1);
  const std::string run = fresh_dir("swap");
  save_checkpoint(run, cfg, model, nullptr, 0);
  // A crash between the two renames leaves only .checkpoint.old (and maybe a partial .tmp).
  fs::rename(run + "/checkpoint", run + "/.checkpoint.old");
  fs::create_directories(run + "/.checkpoint.tmp");
  EXPECT_EQ(resolve_checkpoint_dir(run), run + "/.checkpoint.old");
  EXPECT_NO_THROW(load_checkpoint(run));
  // The next save completes normally.
  save_checkpoint(run, cfg, model, nullptr, 0);
  EXPECT_EQ(resolve_checkpoint_dir(run), run + "/checkpoint");
  EXPECT_FALSE(fs::exists(run + "/.checkpoint.old"));
}

TEST(Checkpoint, ShapeMismatchNamesTheTensor) {
  RunConfig cfg = small_config();
  Model model(cfg.model);
  model.init_parameters(1);
  const std::string run = fresh_dir("mismatch");
  save_checkpoint(run, cfg, model, nullptr, 0);
  // Same tensor names, other sizes: config.json says 64 hidden units, the weights have 48.
  RunConfig other = cfg;
  other.model.ffn_hidden = 64;
  Model other_model(other.model);
  save_checkpoint(run + "_other", other, other_model, nullptr, 0);
  fs::copy_file(run + "_other/checkpoint/config.json", run + "/checkpoint/config.json",
                fs::copy_options::overwrite_existing);
  try {
    load_checkpoint(run);
    FAIL() << "mismatched checkpoint loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("experts.0.w1.weight"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, TextDataWithoutItsTokenizerIsRefused) {
  RunConfig cfg = small_config();
  cfg.data.source = "shakespeare";
  Model model(cfg.model);
  model.init_parameters(1);
  CharTokenizer tok = CharTokenizer::build("hello world");
  const testing::ScratchDir scratch;  // unique to this process
  const std::string run = scratch / "run";
  save_checkpoint(run, cfg, model, &tok, 0);
  fs::remove(run + "/checkpoint/tokenizer.json");
  EXPECT_EQ(testing::error_of([&] { load_checkpoint(run); }),
            "checkpoint " + run +
                "/checkpoint has no tokenizer.json, but its data (data.source = shakespeare) "
                "needs the tokenizer the model was trained with; restore the file from a copy of "
                "the run");
}

TEST(Checkpoint, NotACheckpoint) {
  const std::string d = fresh_dir("empty");
  fs::create_directories(d);
  EXPECT_THROW(resolve_checkpoint_dir(d), Error);
  EXPECT_THROW(resolve_checkpoint_dir(d + "/missing"), Error);
}

}  // namespace
}  // namespace moe
