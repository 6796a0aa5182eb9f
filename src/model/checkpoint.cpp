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
                     const Tokenizer* tokenizer, int64_t step, const CheckpointExtras& extras) {
  const fs::path root(run_dir);
  make_dirs(run_dir);
  const fs::path staging = root / kStaging, latest = root / kLatest, backup = root / kBackup;
  fs::remove_all(staging);
  fs::create_directories(staging);

  std::vector<std::pair<std::string, Tensor>> weights;
  for (const Param& p : model.params().params())
    weights.emplace_back(p.name, p.value);
  write_safetensors((staging / kWeights).string(), weights,
                    {{"format", "pt"}, {"step", std::to_string(step)}});
  write_file_atomic((staging / kConfig).string(), config.to_json().dump(2) + "\n");
  if (tokenizer) tokenizer->save(staging.string());
  if (extras) extras(staging.string());
  // Swap: latest -> backup, staging -> latest, drop backup. Each rename is atomic.
  fs::remove_all(backup);
  if (fs::exists(latest)) fs::rename(latest, backup);
  fs::rename(staging, latest);
  fs::remove_all(backup);
}

RunConfig parse_checkpoint_config(std::string_view text, const std::string& path) {
  nlohmann::json config_json;
  try {
    config_json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("checkpoint config ", path, " is not valid JSON: ", e.what());
  }
  RunConfig config;
  try {
    config.from_json(config_json);
    config.model.validate();
  } catch (const Error& e) {
    fail("checkpoint config ", path, ": ", e.what());
  }
  return config;
}

LoadedCheckpoint load_checkpoint(const std::string& dir) {
  LoadedCheckpoint out;
  out.dir = resolve_checkpoint_dir(dir);
  const fs::path cdir(out.dir);
  const std::string config_path = (cdir / kConfig).string();
  out.config = parse_checkpoint_config(read_file(config_path), config_path);
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

std::string checkpoint_weights_step(const std::string& checkpoint_dir) {
  SafeTensorsFile weights = SafeTensorsFile::open((fs::path(checkpoint_dir) / kWeights).string());
  auto it = weights.metadata().find("step");
  return it == weights.metadata().end() ? std::string() : it->second;
}

}  // namespace moe
