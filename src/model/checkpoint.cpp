#include "model/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/sha256.h"
#include "model/host_staging.h"
#include "model/safetensors.h"

namespace moe {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLatest = "checkpoint";
constexpr const char* kStaging = ".checkpoint.tmp";
constexpr const char* kBackup = ".checkpoint.old";
constexpr const char* kTrash = ".checkpoint.del";
constexpr const char* kWeights = "model.safetensors";
constexpr const char* kConfig = "config.json";
constexpr const char* kManifest = "manifest.json";
constexpr int kManifestVersion = 1;

bool holds_checkpoint(const fs::path& dir) {
  return fs::exists(dir / kWeights) && fs::exists(dir / kConfig);
}

// manifest.json: {"version": 1, "files": {name: {"bytes": n, "sha256": hex}}} for every other
// file in the directory. Hashing reads each file back, and the same pass fsyncs it, so the
// manifest (written last, atomically) is on disk only after everything it describes.
void write_manifest(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != kManifest) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  nlohmann::ordered_json listed = nlohmann::ordered_json::object();
  for (const fs::path& f : files) {
    listed[f.filename().string()] = {{"bytes", fs::file_size(f)},
                                     {"sha256", sha256_file_hex(f.string())}};
    sync_path(f.string());
  }
  const nlohmann::ordered_json manifest = {{"version", kManifestVersion}, {"files", listed}};
  write_file_atomic((dir / kManifest).string(), manifest.dump(2) + "\n");
}

// Checks every file that DIR/manifest.json lists; a directory without a manifest (saved before
// checksums existed) passes unchecked. A listed file that is gone is left to the reader that needs
// it, as without a manifest: a copy without train_state.safetensors still serves eval and generate.
void verify_manifest(const fs::path& dir) {
  const fs::path path = dir / kManifest;
  if (!fs::exists(path)) return;
  const nlohmann::json manifest =
      parse_json(read_file(path.string()), "checkpoint manifest " + path.string());
  MOE_CHECK(manifest.is_object() && manifest.value("version", 0) == kManifestVersion &&
                manifest.contains("files") && manifest["files"].is_object(),
            "checkpoint ", dir.string(), ": ", kManifest, " is not a version ", kManifestVersion,
            " manifest");
  for (const auto& [name, entry] : manifest["files"].items()) {
    const fs::path file = dir / name;
    MOE_CHECK(entry.is_object() && entry.contains("bytes") && entry["bytes"].is_number_unsigned() &&
                  entry.contains("sha256") && entry["sha256"].is_string(),
              "checkpoint ", dir.string(), ": ", kManifest, " has a malformed entry for ", name);
    if (!fs::exists(file)) continue;
    const uint64_t bytes = entry["bytes"].get<uint64_t>();
    MOE_CHECK(fs::file_size(file) == bytes, "checkpoint file ", file.string(), " has ",
              fs::file_size(file), " bytes but ", kManifest, " records ", bytes,
              ": the file is truncated or damaged");
    MOE_CHECK(sha256_file_hex(file.string()) == entry["sha256"].get<std::string>(),
              "checkpoint file ", file.string(), " does not match its SHA-256 in ", kManifest,
              ": the file is damaged");
  }
}

void check_weights_finite(const NamedWeights& weights, int64_t step) {
  for (const auto& [name, value] : weights)
    if (const auto bad = find_non_finite_staged(value))
      fail("not saving the checkpoint of step ", step, ": weight ", name, " holds ", bad->value,
           " (element ", bad->index, ")");
}

// Writes every file of the checkpoint into `staging`, the manifest last.
void write_staging(const fs::path& staging, const RunConfig& config, const NamedWeights& weights,
                   const Tokenizer* tokenizer, int64_t step, const CheckpointExtras& extras,
                   const SaveHook& at) {
  fs::create_directories(staging);
  write_safetensors((staging / kWeights).string(), weights,
                    {{"format", "pt"}, {"step", std::to_string(step)}});
  at(SaveStep::kWeightsWritten);
  write_file_atomic((staging / kConfig).string(), config.to_json().dump(2) + "\n");
  if (tokenizer) tokenizer->save(staging.string());
  if (extras) extras(staging.string());
  write_manifest(staging);
}

// Renames `dir` out of the way, then deletes it. The rename is the step that counts (atomic); a
// crash during the deletion leaves RUN/.checkpoint.del, which nothing reads and the next save
// removes. Errors are ignored: what is left behind is never read.
void drop(const fs::path& root, const fs::path& dir, SaveStep step, const SaveHook& at) {
  std::error_code ec;
  fs::remove_all(root / kTrash, ec);
  fs::rename(dir, root / kTrash, ec);
  if (ec) return;
  sync_path(root.string());
  at(step);
  fs::remove_all(root / kTrash, ec);
}

// Moves the complete `staging` to RUN/checkpoint. Invariant: the backup is dropped only while
// RUN/checkpoint holds a complete checkpoint, so the latest complete checkpoint stays loadable.
void swap_in(const fs::path& root, const fs::path& staging, const SaveHook& at) {
  const fs::path latest = root / kLatest, backup = root / kBackup;
  bool moved_latest = false;
  try {
    if (holds_checkpoint(latest)) {
      // A backup beside a complete checkpoint is older than it (a save stopped before dropping it).
      if (fs::exists(backup)) drop(root, backup, SaveStep::kStaleDirDropped, at);
      fs::rename(latest, backup);
      moved_latest = true;
      sync_path(root.string());
      at(SaveStep::kLatestMovedToBackup);
    } else if (fs::exists(latest)) {
      // Not a checkpoint (damaged by hand): nothing loadable is lost; the backup, if any, stays.
      drop(root, latest, SaveStep::kStaleDirDropped, at);
    }
    fs::rename(staging, latest);
    sync_path(root.string());
  } catch (...) {
    std::error_code ec;
    if (moved_latest && !fs::exists(latest)) fs::rename(backup, latest, ec);
    throw;
  }
  at(SaveStep::kStagingMovedToLatest);
  if (fs::exists(backup)) drop(root, backup, SaveStep::kBackupDropped, at);
  at(SaveStep::kDone);
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

NamedWeights named_weights(const ParamTable& layout, const Tensor& values) {
  MOE_CHECK(values.numel() == layout.numel(), "named_weights: ", values.numel(),
            " values for a table of ", layout.numel());
  NamedWeights weights;
  for (const Param& p : layout.params())
    weights.emplace_back(p.name, values.rows(p.offset, p.offset + p.shape.numel()).view(p.shape));
  return weights;
}

void save_checkpoint(const std::string& run_dir, const RunConfig& config, const Model& model,
                     const Tokenizer* tokenizer, int64_t step, const CheckpointExtras& extras,
                     const SaveHook& hook) {
  save_checkpoint(run_dir, config, named_weights(model.params(), model.params().flat_values()),
                  tokenizer, step, extras, hook);
}

void save_checkpoint(const std::string& run_dir, const RunConfig& config,
                     const NamedWeights& weights, const Tokenizer* tokenizer, int64_t step,
                     const CheckpointExtras& extras, const SaveHook& hook) {
  const SaveHook at = [&](SaveStep s) {
    if (hook) hook(s);
  };
  check_weights_finite(weights, step);  // before any file is touched
  const fs::path root(run_dir);
  make_dirs(run_dir);
  const fs::path staging = root / kStaging;
  // Leftovers of an interrupted save are never read, so removing them loses nothing.
  fs::remove_all(staging);
  fs::remove_all(root / kTrash);
  try {
    write_staging(staging, config, weights, tokenizer, step, extras, at);
    at(SaveStep::kStagingWritten);
    swap_in(root, staging, at);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);  // a failed save leaves no partial files
    throw;
  }
}

RunConfig parse_checkpoint_config(std::string_view text, const std::string& path) {
  const nlohmann::json config_json = parse_json(text, "checkpoint config " + path);
  RunConfig config;
  try {
    config.from_json(config_json);
    config.model.validate();
  } catch (const Error& e) {
    fail("checkpoint config ", path, ": ", e.what());
  }
  return config;
}

CheckpointFiles open_checkpoint(const std::string& dir) {
  CheckpointFiles out;
  out.dir = resolve_checkpoint_dir(dir);
  const fs::path cdir(out.dir);
  verify_manifest(cdir);
  const std::string config_path = (cdir / kConfig).string();
  out.config = parse_checkpoint_config(read_file(config_path), config_path);
  if (fs::exists(cdir / "tokenizer.json")) out.tokenizer = load_tokenizer(out.dir);
  // Only synthetic data has no tokenizer. Without the saved one the model's ids have no meaning,
  // and a vocabulary rebuilt from the corpus on resume could silently give them other characters.
  MOE_CHECK(out.tokenizer || !out.config.data.needs_tokenizer(), "checkpoint ", out.dir,
            " has no tokenizer.json, but its data (data.source = ", out.config.data.source,
            ") needs the tokenizer the model was trained with; restore the file from a copy of "
            "the run");
  if (out.tokenizer) {
    MOE_CHECK(out.tokenizer->vocab_size() <= out.config.model.vocab_size, "checkpoint ", out.dir,
              ": tokenizer has ", out.tokenizer->vocab_size(), " tokens but the model only ",
              out.config.model.vocab_size);
  }
  const std::string weights_path = (cdir / kWeights).string();
  out.weights = SafeTensorsFile::open(weights_path);
  // The tensor table config.json defines, from a model that holds no memory.
  const Model expected(out.config.model, ArenaMode::Measure);
  for (const Param& p : expected.params().params()) {
    MOE_CHECK(out.weights.has(p.name), "checkpoint ", weights_path, " lacks tensor ", p.name,
              " that its config.json requires (checkpoint from another config?)");
    const SafeTensorsFile::Entry& e = out.weights.entry(p.name);
    MOE_CHECK(e.stored == StoredDType::F32 && e.shape == p.shape, "tensor ", p.name,
              " in checkpoint ", weights_path, " is ", stored_dtype_name(e.stored), " ",
              e.shape.str(), " but its config.json defines F32 ", p.shape.str(),
              " (checkpoint from another config?)");
  }
  for (const auto& e : out.weights.entries()) {
    MOE_CHECK(expected.params().find(e.name) != nullptr, "checkpoint ", weights_path,
              " has tensor ", excerpt(e.name), " that its config.json does not define");
  }
  return out;
}

LoadedCheckpoint load_checkpoint(CheckpointFiles files, Device device, ExpertExchange* exchange) {
  LoadedCheckpoint out;
  out.dir = files.dir;
  out.config = files.config;
  out.tokenizer = std::move(files.tokenizer);
  out.model = std::make_unique<Model>(out.config.model, ArenaMode::Allocate, device, exchange);
  for (Param& p : out.model->params().params()) {
    files.weights.read_into(p.name, p.value);
    if (const auto bad = find_non_finite_staged(p.value))
      fail("checkpoint ", files.weights.path(), ": weight ", p.name, " holds ", bad->value,
           " (element ", bad->index, "); a checkpoint with non-finite weights cannot be used");
  }
  return out;
}

RunConfig read_checkpoint_config(const std::string& dir) {
  const std::string path = (fs::path(resolve_checkpoint_dir(dir)) / kConfig).string();
  return parse_checkpoint_config(read_file(path), path);
}

LoadedCheckpoint load_checkpoint(const std::string& dir, Device device) {
  return load_checkpoint(open_checkpoint(dir), device);
}

std::string checkpoint_weights_step(const std::string& checkpoint_dir) {
  SafeTensorsFile weights = SafeTensorsFile::open((fs::path(checkpoint_dir) / kWeights).string());
  auto it = weights.metadata().find("step");
  return it == weights.metadata().end() ? std::string() : it->second;
}

}  // namespace moe
