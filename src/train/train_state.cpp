#include "train/train_state.h"

#include <filesystem>
#include <map>
#include <stdexcept>

#include "core/check.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"

namespace moe {

namespace {
constexpr const char* kState = "train_state.safetensors";
}

void save_train_state(const std::string& checkpoint_dir, const RunConfig& config,
                      const TrainState& state) {
  const std::string step = std::to_string(state.step);
  std::map<std::string, std::string> meta = {
      {"step", step},
      {"best_val_loss", std::to_string(state.best_val_loss)},
      {"best_val_step", std::to_string(state.best_val_step)},
      {"evals_since_best", std::to_string(state.evals_since_best)},
      {"elapsed_seconds", std::to_string(state.elapsed_seconds)},
      // Random draws are pure functions of (seed, step), so these two are the RNG state and the
      // data position.
      {"seed", std::to_string(config.train.seed)},
      {"data_position", step},
  };
  write_safetensors((std::filesystem::path(checkpoint_dir) / kState).string(),
                    {{"adam.m", state.adam_m}, {"adam.v", state.adam_v}}, meta);
}

void load_train_state(const std::string& checkpoint_dir, const Model& model, TrainState& state) {
  const std::string path = (std::filesystem::path(checkpoint_dir) / kState).string();
  MOE_CHECK(std::filesystem::exists(path), "checkpoint ", checkpoint_dir,
            " has no training state (", kState, "); it cannot be resumed");
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
  MOE_CHECK(checkpoint_weights_step(checkpoint_dir) == get("step"), "checkpoint ", checkpoint_dir,
            ": weights and training state are from different steps");
}

}  // namespace moe
