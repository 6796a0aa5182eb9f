#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
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

TEST(Checkpoint, InterruptedSwapFallsBackToTheBackupAndTheNextSaveKeepsIt) {
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
  fs::remove(run + "/checkpoint/manifest.json");  // else the checksum names config.json first
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

// ---- Crash safety of the save sequence -------------------------------------------------------

// Weights of a model saved at `step`; each step's weights differ (init seed = step).
struct Saved {
  int64_t step;
  std::vector<float> weights;
};

class CheckpointSaves : public ::testing::Test {
 protected:
  CheckpointSaves() : cfg_(small_config()), model_(cfg_.model) {}

  // Sets the model to step `step`'s weights and saves it into `run` with an extra file that
  // records the step, so a load can check that every file comes from the same save.
  Saved save(const std::string& run, int64_t step, const SaveHook& hook = {}) {
    model_.init_parameters(static_cast<uint64_t>(step) + 100);
    const Tensor w = model_.params().flat_values();
    Saved saved{step, std::vector<float>(w.f32(), w.f32() + w.numel())};
    save_checkpoint(
        run, cfg_, model_, nullptr, step,
        [&](const std::string& dir) {
          write_file_atomic(dir + "/extra.txt", std::to_string(step));
        },
        hook);
    return saved;
  }

  // The step of the checkpoint that loads from `run`, after checking that its weights are that
  // step's and that its extra file agrees; -1 when nothing loads. Reads the checkpoint as
  // load_checkpoint does (open_checkpoint's checks, then every tensor) without building a model.
  int64_t loaded_step(const std::string& run, const std::vector<Saved>& candidates) {
    if (!run_has_checkpoint(run)) return -1;
    const CheckpointFiles files = open_checkpoint(run);
    std::vector<float> w(static_cast<size_t>(model_.param_count()));
    for (const Param& p : model_.params().params())
      files.weights.read_into(p.name, cpu_tensor(w.data() + p.offset, p.shape));
    const int64_t step = std::stoll(checkpoint_weights_step(files.dir));
    EXPECT_EQ(read_file(files.dir + "/extra.txt"), std::to_string(step));
    for (const Saved& c : candidates) {
      if (c.step != step) continue;
      EXPECT_EQ(c.weights, w) << "step " << step;
      return step;
    }
    ADD_FAILURE() << "loaded step " << step << " is none of the saves";
    return -1;
  }

  RunConfig cfg_;
  Model model_;
};

// How the run directory looks when a save starts.
enum class Start {
  kEmpty,               // a run's first save
  kLatest,              // the usual case
  kBackupOnly,          // an earlier save died between its two renames
  kLatestAndOldBackup,  // an earlier save died before dropping its backup
  kLatestAndLeftovers,  // a stale staging directory (with weights and config) and trash
  kBackupAndLeftovers,  // only a backup, and a stale staging directory
};

const std::vector<Start> kStarts = {Start::kEmpty,
                                    Start::kLatest,
                                    Start::kBackupOnly,
                                    Start::kLatestAndOldBackup,
                                    Start::kLatestAndLeftovers,
                                    Start::kBackupAndLeftovers};
const std::vector<SaveStep> kSteps = {SaveStep::kWeightsWritten,
                                      SaveStep::kStagingWritten,
                                      SaveStep::kStaleDirDropped,
                                      SaveStep::kLatestMovedToBackup,
                                      SaveStep::kStagingMovedToLatest,
                                      SaveStep::kBackupDropped,
                                      SaveStep::kDone};

// Builds `start` in a fresh `run` with `save`; returns the save that must stay loadable (step 1),
// if any.
std::vector<Saved> prepare(const std::string& run, Start start,
                           const std::function<Saved(const std::string&, int64_t)>& save) {
  fs::remove_all(run);
  fs::remove_all(run + "_older");
  if (start == Start::kEmpty) return {};
  std::vector<Saved> previous = {save(run, 1)};
  const bool backup_only = start == Start::kBackupOnly || start == Start::kBackupAndLeftovers;
  if (backup_only) fs::rename(run + "/checkpoint", run + "/.checkpoint.old");
  if (start == Start::kLatestAndOldBackup) {
    save(run + "_older", 0);
    fs::copy(run + "_older/checkpoint", run + "/.checkpoint.old");
  }
  if (start == Start::kLatestAndLeftovers || start == Start::kBackupAndLeftovers) {
    // A stale staging directory that looks like a checkpoint must never be loaded or kept.
    fs::create_directories(run + "/.checkpoint.tmp");
    write_file_atomic(run + "/.checkpoint.tmp/model.safetensors", "garbage");
    write_file_atomic(run + "/.checkpoint.tmp/config.json", "garbage");
    fs::create_directories(run + "/.checkpoint.del");
    write_file_atomic(run + "/.checkpoint.del/model.safetensors", "garbage");
  }
  return previous;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A crash (the process dies: no destructor, no clean-up) at every point of the save sequence, from
// every starting state: the new checkpoint or the previous one loads, complete and correct, and
// the next save succeeds and leaves only RUN/checkpoint.
TEST_F(CheckpointSaves, ACrashAtAnyPointLeavesALoadableCheckpoint) {
  testing::ScratchDir scratch;
  const std::string run = scratch / "run";
  auto save_fn = [&](const std::string& r, int64_t step) { return save(r, step); };
  int crashes = 0;
  for (Start start : kStarts) {
    for (SaveStep step : kSteps) {
      const std::vector<Saved> previous = prepare(run, start, save_fn);
      model_.init_parameters(102);  // step 2's weights, set before the fork
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        try {
          save(run, 2, [&](SaveStep s) {
            if (s == step) ::_exit(0);  // the crash
          });
        } catch (...) {
          ::_exit(2);
        }
        ::_exit(1);  // this start never reaches `step`
      }
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFEXITED(status));
      ASSERT_NE(WEXITSTATUS(status), 2) << "the save failed";
      if (WEXITSTATUS(status) == 1) continue;
      ++crashes;
      const std::string where = "start " + std::to_string(static_cast<int>(start)) +
                                ", crash at step " + std::to_string(static_cast<int>(step));
      std::vector<Saved> candidates = previous;
      candidates.push_back({2, {}});
      model_.init_parameters(102);
      const Tensor w2 = model_.params().flat_values();
      candidates.back().weights.assign(w2.f32(), w2.f32() + w2.numel());
      const int64_t loaded = loaded_step(run, candidates);
      if (step >= SaveStep::kStagingMovedToLatest) {
        EXPECT_EQ(loaded, 2) << where;
      } else if (previous.empty()) {
        EXPECT_EQ(loaded, -1) << where;
      } else {
        EXPECT_EQ(loaded, 1) << where;
      }
      // The next save completes and cleans up whatever the crash left.
      const Saved third = save(run, 3);
      EXPECT_EQ(loaded_step(run, {third}), 3) << where;
      EXPECT_EQ(entries(run), std::vector<std::string>{"checkpoint"}) << where;
    }
  }
  // The points each start reaches: a first save 4 (nothing to back up or drop), latest 6
  // (twice), backup only 5 (twice), latest with an old backup all 7.
  EXPECT_EQ(crashes, 4 + 6 + 6 + 5 + 5 + 7);
}

// A save that fails (a full disk, a failing writer) at any point removes its temporary files; the
// previous checkpoint stays, or the new one is complete when the failure came after the swap.
TEST_F(CheckpointSaves, AFailedSaveLeavesThePreviousCheckpointAndNoTemporaryFiles) {
  testing::ScratchDir scratch;
  const std::string run = scratch / "run";
  for (SaveStep step : kSteps) {
    fs::remove_all(run);
    const Saved first = save(run, 1);
    Saved second{2, {}};
    const std::string message = testing::error_of([&] {
      save(run, 2, [&](SaveStep s) {
        if (s == step) fail("No space left on device");
      });
    });
    model_.init_parameters(102);
    const Tensor w2 = model_.params().flat_values();
    second.weights.assign(w2.f32(), w2.f32() + w2.numel());
    if (step == SaveStep::kStaleDirDropped) {  // not reached: there is no old backup
      EXPECT_EQ(message, "");
      continue;
    }
    EXPECT_EQ(message, "No space left on device");
    EXPECT_FALSE(fs::exists(run + "/.checkpoint.tmp")) << static_cast<int>(step);
    EXPECT_EQ(loaded_step(run, {first, second}), step >= SaveStep::kStagingMovedToLatest ? 2 : 1)
        << static_cast<int>(step);
  }
}

TEST_F(CheckpointSaves, AFailingExtraWriterLeavesThePreviousCheckpoint) {
  testing::ScratchDir scratch;
  const std::string run = scratch / "run";
  const Saved first = save(run, 1);
  const std::string before = read_file(run + "/checkpoint/model.safetensors");
  model_.init_parameters(7);
  const std::string message = testing::error_of([&] {
    save_checkpoint(run, cfg_, model_, nullptr, 2, [](const std::string& dir) {
      write_file_atomic(dir + "/half.bin", "x");
      fail("cannot write ", dir, "/train_state.safetensors: No space left on device");
    });
  });
  EXPECT_NE(message.find("No space left"), std::string::npos) << message;
  EXPECT_EQ(entries(run), std::vector<std::string>{"checkpoint"});
  EXPECT_EQ(read_file(run + "/checkpoint/model.safetensors"), before);
  EXPECT_EQ(loaded_step(run, {first}), 1);
}

TEST_F(CheckpointSaves, NonFiniteWeightsAreNeverSaved) {
  testing::ScratchDir scratch;
  const std::string run = scratch / "run";
  const Saved first = save(run, 1);
  for (float bad : {std::nanf(""), INFINITY}) {
    model_.init_parameters(5);
    const Param& p = model_.params().params()[3];
    p.value.f32()[7] = bad;
    const std::string message =
        testing::error_of([&] { save_checkpoint(run, cfg_, model_, nullptr, 2); });
    EXPECT_NE(message.find("not saving the checkpoint of step 2: weight " + p.name + " holds "),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("(element 7)"), std::string::npos) << message;
    EXPECT_EQ(entries(run), std::vector<std::string>{"checkpoint"});
    EXPECT_EQ(loaded_step(run, {first}), 1);
  }
}

// ---- Checksums and load-time checks ----------------------------------------------------------

// Flips one byte of `file` at `offset` bytes from its end (the data region, not the header).
void flip_byte_from_end(const std::string& file, int64_t offset) {
  std::string bytes = read_file(file);
  bytes[bytes.size() - static_cast<size_t>(offset)] ^= 0x01;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

TEST_F(CheckpointSaves, AFlippedDataByteIsDetectedAndNamed) {
  testing::ScratchDir scratch;
  for (const std::string file : {"model.safetensors", "extra.txt", "config.json"}) {
    const std::string run = scratch / ("run_" + file);
    save(run, 1);
    flip_byte_from_end(run + "/checkpoint/" + file, 1);
    const std::string message = testing::error_of([&] { load_checkpoint(run); });
    EXPECT_NE(message.find("checkpoint file " + run + "/checkpoint/" + file +
                           " does not match its SHA-256 in manifest.json"),
              std::string::npos)
        << message;
  }
}

TEST_F(CheckpointSaves, TheManifestListsEveryFileWithItsSizeAndDigest) {
  testing::ScratchDir scratch;
  const std::string run = scratch / "run";
  save(run, 1);
  const auto manifest = nlohmann::json::parse(read_file(run + "/checkpoint/manifest.json"));
  EXPECT_EQ(manifest["version"], 1);
  std::vector<std::string> listed;
  for (const auto& [name, entry] : manifest["files"].items()) {
    listed.push_back(name);
    EXPECT_EQ(entry["bytes"].get<uint64_t>(), fs::file_size(run + "/checkpoint/" + name));
    EXPECT_EQ(entry["sha256"].get<std::string>().size(), 64u);
  }
  EXPECT_EQ(listed, (std::vector<std::string>{"config.json", "extra.txt", "model.safetensors"}));
  // A truncated file is named too; a removed one is left to the reader that needs it.
  fs::resize_file(run + "/checkpoint/extra.txt", 0);
  EXPECT_NE(testing::error_of([&] { load_checkpoint(run); }).find("extra.txt has 0 bytes"),
            std::string::npos);
  fs::remove(run + "/checkpoint/extra.txt");
  EXPECT_NO_THROW(load_checkpoint(run));
}

TEST_F(CheckpointSaves, ACheckpointWithoutManifestStillLoads) {
  testing::ScratchDir scratch;
  const std::string run = scratch / "run";
  const Saved first = save(run, 1);
  fs::remove(run + "/checkpoint/manifest.json");  // as saved before checksums existed
  EXPECT_EQ(loaded_step(run, {first}), 1);
}

// Weights that hold NaN (written by an older version, or by hand) are refused on load.
TEST_F(CheckpointSaves, NonFiniteWeightsAreRefusedOnLoad) {
  testing::ScratchDir scratch;
  const std::string run = scratch / "run";
  save(run, 1);
  const std::string path = run + "/checkpoint/model.safetensors";
  const SafeTensorsFile file = SafeTensorsFile::open(path);
  const SafeTensorsFile::Entry& e = file.entries().back();
  std::string bytes = read_file(path);
  const float nan = std::nanf("");
  std::memcpy(&bytes[e.offset + 4], &nan, 4);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  fs::remove(run + "/checkpoint/manifest.json");
  const std::string message = testing::error_of([&] { load_checkpoint(run); });
  EXPECT_NE(message.find("weight " + e.name + " holds nan (element 1)"), std::string::npos)
      << message;
}

// config.json is checked against the weights' header before the model is built: a vocabulary of
// millions would otherwise allocate gigabytes before the mismatch shows.
TEST_F(CheckpointSaves, OpenChecksShapesAgainstTheHeaderWithoutBuildingTheModel) {
  testing::ScratchDir scratch;
  const std::string run = scratch / "run";
  save(run, 1);
  const std::string config_path = run + "/checkpoint/config.json";
  auto config = nlohmann::json::parse(read_file(config_path));
  config["model"]["vocab_size"] = 4000000;
  write_file_atomic(config_path, config.dump());
  fs::remove(run + "/checkpoint/manifest.json");
  const std::string message = testing::error_of([&] { open_checkpoint(run); });
  EXPECT_NE(message.find("model.embed_tokens.weight in checkpoint"), std::string::npos) << message;
  EXPECT_NE(message.find("is F32 (20, 32) but its config.json defines F32 (4000000, 32)"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace moe
