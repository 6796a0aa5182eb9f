#include "model/checkpoint.h"

#include <filesystem>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "model/safetensors.h"

namespace moe {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLatest = "checkpoint";
constexpr const char* kStaging = ".checkpoint.tmp";
constexpr const char* kBackup = ".checkpoint.old";
constexpr const char* kWeights = "model.safetensors";
constexpr const char* kConfig = "config.json";
constexpr const char* kState = "train_state.safetensors";

bool holds_checkpoint(const fs::path& dir) {
  return fs::exists(dir / kWeights) && fs::exists(dir / kConfig);
}

}  // namespace

std::string resolve_checkpoint_dir(const std::string& dir) {
  const fs::path root(dir);
  MOE_CHECK(fs::exists(root), "checkpoint directory ", dir, " does not exist");
  if (holds_checkpoint(root / kLatest)) return (root / kLatest).string();
  // A save interrupted between its two renames leaves only the previous checkpoint, as backup.
  if (holds_checkpoint(root / kBackup)) return (root / kBackup).string();
  if (holds_checkpoint(root)) return root.string();
  fail("no checkpoint in ", dir, " (expected ", kWeights, " and ", kConfig, " there or in ", dir,
       "/", kLatest, ")");
}

bool run_has_checkpoint(const std::string& run_dir) {
  const fs::path root(run_dir);
  return holds_checkpoint(root / kLatest) || holds_checkpoint(root / kBackup);
}

void save_checkpoint(const std::string& run_dir, const RunConfig& config, const Model& model,
                     const Tokenizer* tokenizer, const TrainState* state) {
  const fs::path root(run_dir);
  make_dirs(run_dir);
  const fs::path staging = root / kStaging, latest = root / kLatest, backup = root / kBackup;
  fs::remove_all(staging);
  fs::create_directories(staging);

  std::vector<std::pair<std::string, Tensor>> weights;
  for (const Param& p : model.params().params())
    weights.emplace_back(p.name, p.value);
  const std::string step = std::to_string(state ? state->step : 0);
  write_safetensors((staging / kWeights).string(), weights, {{"format", "pt"}, {"step", step}});
  write_file_atomic((staging / kConfig).string(), config.to_json().dump(2) + "\n");
  if (tokenizer) tokenizer->save(staging.string());
  if (state) {
    std::map<std::string, std::string> meta = {
        {"step", step},
        {"best_val_loss", std::to_string(state->best_val_loss)},
        {"best_val_step", std::to_string(state->best_val_step)},
        {"evals_since_best", std::to_string(state->evals_since_best)},
        {"elapsed_seconds", std::to_string(state->elapsed_seconds)},
        // Random draws are pure functions of (seed, step), so these two are the RNG state and the
        // data position.
        {"seed", std::to_string(config.train.seed)},
        {"data_position", step},
    };
    write_safetensors((staging / kState).string(),
                      {{"adam.m", state->adam_m}, {"adam.v", state->adam_v}}, meta);
  }
  // Swap: latest -> backup, staging -> latest, drop backup. Each rename is atomic.
  fs::remove_all(backup);
  if (fs::exists(latest)) fs::rename(latest, backup);
  fs::rename(staging, latest);
  fs::remove_all(backup);
}

LoadedCheckpoint load_checkpoint(const std::string& dir) {
  LoadedCheckpoint out;
  out.dir = resolve_checkpoint_dir(dir);
  const fs::path cdir(out.dir);
  nlohmann::json config_json;
  try {
    config_json = nlohmann::json::parse(read_file((cdir / kConfig).string()));
  } catch (const nlohmann::json::exception& e) {
    fail("checkpoint config ", (cdir / kConfig).string(), " is not valid JSON: ", e.what());
  }
  try {
    out.config.from_json(config_json);
    out.config.model.validate();
  } catch (const Error& e) {
    fail("checkpoint config ", (cdir / kConfig).string(), ": ", e.what());
  }
  if (fs::exists(cdir / "tokenizer.json")) out.tokenizer = load_tokenizer(out.dir);
  if (out.tokenizer) {
    MOE_CHECK(out.tokenizer->vocab_size() <= out.config.model.vocab_size, "checkpoint ", out.dir,
              ": tokenizer has ", out.tokenizer->vocab_size(), " tokens but the model only ",
              out.config.model.vocab_size);
  }
  out.model = std::make_unique<Model>(out.config.model);
  const std::string weights_path = (cdir / kWeights).string();
  SafeTensorsFile file = SafeTensorsFile::open(weights_path);
  for (Param& p : out.model->params().params()) {
    MOE_CHECK(file.has(p.name), "checkpoint ", weights_path, " lacks tensor ", p.name,
              " that its config.json requires (checkpoint from another config?)");
    file.read_into(p.name, p.value);
  }
  for (const auto& e : file.entries()) {
    MOE_CHECK(out.model->params().find(e.name) != nullptr, "checkpoint ", weights_path,
              " has tensor ", e.name, " that its config.json does not define");
  }
  return out;
}

void load_train_state(const std::string& checkpoint_dir, const Model& model, TrainState& state) {
  const std::string path = (fs::path(checkpoint_dir) / kState).string();
  MOE_CHECK(fs::exists(path), "checkpoint ", checkpoint_dir, " has no training state (", kState,
            "); it cannot be resumed");
  SafeTensorsFile file = SafeTensorsFile::open(path);
  MOE_CHECK(state.adam_m.numel() == model.param_count(), "training state buffers not allocated");
  file.read_into("adam.m", state.adam_m);
  file.read_into("adam.v", state.adam_v);
  const auto& meta = file.metadata();
  auto get = [&](const char* key) {
    auto it = meta.find(key);
    MOE_CHECK(it != meta.end(), "training state ", path, " lacks '", key, "'");
    return it->second;
  };
  try {
    state.step = std::stoll(get("step"));
    state.best_val_loss = std::stof(get("best_val_loss"));
    state.best_val_step = std::stoll(get("best_val_step"));
    state.evals_since_best = std::stoll(get("evals_since_best"));
    state.elapsed_seconds = std::stod(get("elapsed_seconds"));
  } catch (const std::logic_error&) {
    fail("training state ", path, " has a malformed value");
  }
  // The weights and the optimizer state must come from the same save.
  SafeTensorsFile weights = SafeTensorsFile::open((fs::path(checkpoint_dir) / kWeights).string());
  auto it = weights.metadata().find("step");
  MOE_CHECK(it != weights.metadata().end() && it->second == get("step"), "checkpoint ",
            checkpoint_dir, ": weights and training state are from different steps");
}

}  // namespace moe
