#include "train/train_state.h"

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include "core/check.h"
#include "model/checkpoint.h"
#include "model/host_staging.h"
#include "model/safetensors.h"

namespace moe {

namespace {

constexpr const char* kState = "train_state.safetensors";

// The parameter that element `index` of the flat buffers belongs to.
const std::string& param_at(const ParamTable& table, int64_t index) {
  for (const Param& p : table.params())
    if (index < p.offset + p.shape.numel()) return p.name;
  return table.params().back().name;
}

// What is wrong with the moments, or nullopt: a NaN or infinity in either, or a negative second
// moment (v is a running mean of squares; sqrt(v) in the update makes a negative one NaN).
std::optional<std::string> moments_problem(const Model& model, const TrainState& state) {
  for (const auto& [name, t] : {std::pair{"adam.m", state.adam_m}, {"adam.v", state.adam_v}}) {
    if (const auto bad = find_non_finite_staged(t))
      return str_cat("optimizer state ", name, " holds ", bad->value, " (element ",
                     state.moments_first + bad->index, ", parameter ",
                     param_at(model.params(), state.moments_first + bad->index), ")");
  }
  std::optional<std::pair<int64_t, float>> negative;  // (element, value) of the first below 0
  read_through_host(state.adam_v, [&](const Tensor& piece, int64_t first) {
    const float* v = piece.f32();
    for (int64_t i = 0; i < piece.numel() && !negative; ++i)
      if (v[i] < 0.0f) negative = std::pair{state.moments_first + first + i, v[i]};
  });
  if (negative)
    return str_cat("optimizer state adam.v holds the negative second moment ", negative->second,
                   " (element ", negative->first, ", parameter ",
                   param_at(model.params(), negative->first), ")");
  return std::nullopt;
}

// dst := the elements of the file's moments `name` (of the whole model, laid out as `whole`) that
// `params` keeps: elements [first, first + dst.numel()) of the flat table, unless `params` holds
// only a slice of the experts (expert parallel; then first is 0 and dst is `params`' table), where
// each parameter reads its own elements by name.
void read_moments(const SafeTensorsFile& file, const char* name, const ParamTable& params,
                  const ParamTable& whole, int64_t first, Tensor dst) {
  if (params.numel() == whole.numel()) {
    file.read_range_into(name, first, dst);
    return;
  }
  MOE_CHECK(first == 0 && dst.numel() == params.numel(),
            "load_train_state: a slice of the experts keeps the moments of its whole table");
  const std::vector<int64_t> offsets = params.offsets_in(whole);
  for (const Param& p : params.params())
    file.read_range_into(name, offsets[p.index], dst.rows(p.offset, p.offset + p.shape.numel()));
}

}  // namespace

void save_train_state(const std::string& checkpoint_dir, const RunConfig& config,
                      const Model& model, const TrainState& state) {
  if (const auto problem = moments_problem(model, state))
    fail("not saving the checkpoint of step ", state.step, ": ", *problem);
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
  MOE_CHECK(state.moments_first == 0 && state.adam_m.numel() == model.param_count(),
            "save_train_state: the moments of the whole parameter table are needed");
  write_safetensors((std::filesystem::path(checkpoint_dir) / kState).string(),
                    {{"adam.m", state.adam_m}, {"adam.v", state.adam_v}}, meta);
}

void load_train_state(const std::string& checkpoint_dir, const Model& model, TrainState& state) {
  const std::string path = (std::filesystem::path(checkpoint_dir) / kState).string();
  MOE_CHECK(std::filesystem::exists(path), "checkpoint ", checkpoint_dir,
            " has no training state (", kState, "); it cannot be resumed");
  SafeTensorsFile file = SafeTensorsFile::open(path);
  const Model whole(model.config(), ArenaMode::Measure);  // the files' layout: every expert
  for (const char* name : {"adam.m", "adam.v"})
    MOE_CHECK(file.has(name) && file.entry(name).shape == Shape{whole.param_count()},
              "training state ", path, ": ", name, " does not hold the moments of the model's ",
              whole.param_count(), " parameters; it cannot be resumed");
  read_moments(file, "adam.m", model.params(), whole.params(), state.moments_first, state.adam_m);
  read_moments(file, "adam.v", model.params(), whole.params(), state.moments_first, state.adam_v);
  if (const auto problem = moments_problem(model, state))
    fail("training state ", path, ": ", *problem, "; it cannot be resumed");
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
