// Checkpoints: a directory holding model.safetensors (weights, Hugging Face names), config.json
// (the run configuration), tokenizer.json (when the run has a tokenizer), whatever the caller
// adds (the trainer adds train_state.safetensors: see train/train_state.h) and, written last,
// manifest.json: the size and SHA-256 of every other file, checked on load so that a damaged
// file is named instead of loaded. Checkpoints from before the manifest load without the check.
//
// A run directory RUN keeps its latest checkpoint in RUN/checkpoint. A save writes a complete new
// directory RUN/.checkpoint.tmp (files fsynced, manifest last), then swaps it in with renames:
// RUN/checkpoint becomes RUN/.checkpoint.old, the new directory becomes RUN/checkpoint, and the
// backup is dropped (renamed to RUN/.checkpoint.del, then deleted). Loading reads RUN/checkpoint,
// or RUN/.checkpoint.old when a crash came between the two renames. The backup is only ever
// dropped while RUN/checkpoint holds a complete checkpoint, so a crash at any point leaves the new
// checkpoint or the previous one loadable (docs/ARCHITECTURE.md walks through every point). A save
// that fails (disk full, non-finite weights) removes its temporary files and changes nothing.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "core/tensor.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "nn/expert_exchange.h"
#include "tokenizer/tokenizer.h"

namespace moe {

// The checkpoint directory to read for DIR: DIR/checkpoint (or its interrupted-swap backup) when
// DIR is a run directory, else DIR itself. Throws when neither holds a checkpoint.
std::string resolve_checkpoint_dir(const std::string& dir);

// Whether the run directory RUN holds a checkpoint (RUN/checkpoint or its backup).
bool run_has_checkpoint(const std::string& run_dir);

// Writes further files (the trainer's state) into the staging directory before the swap.
using CheckpointExtras = std::function<void(const std::string& staging_dir)>;

// The points of the save sequence, in order. A save reaches each that applies to it (a run's
// first save has no backup to drop).
enum class SaveStep {
  kWeightsWritten,        // staging holds model.safetensors only
  kStagingWritten,        // staging is complete, manifest included, and on disk
  kStaleDirDropped,       // renamed away: a backup older than RUN/checkpoint (left by an
                          // interrupted save) or a RUN/checkpoint that holds no checkpoint
  kLatestMovedToBackup,   // RUN/checkpoint -> RUN/.checkpoint.old
  kStagingMovedToLatest,  // RUN/.checkpoint.tmp -> RUN/checkpoint
  kBackupDropped,         // RUN/.checkpoint.old -> RUN/.checkpoint.del
  kDone,                  // RUN/.checkpoint.del deleted
};
// Called as each point is reached; tests stop the save there (a crash, a failure).
using SaveHook = std::function<void(SaveStep)>;

// Weights by checkpoint name, in a parameter table's order.
using NamedWeights = std::vector<std::pair<std::string, Tensor>>;
// The parameters of `layout` viewed in `values` (layout.numel()), laid out as the table: a model's
// own flat values, or a whole model gathered from processes that each hold a slice of its experts.
NamedWeights named_weights(const ParamTable& layout, const Tensor& values);

// Writes RUN/checkpoint atomically (see above) with the weights of the whole model `config`
// defines; `step` is recorded in model.safetensors so that files written beside it (by `extras`)
// can be checked against the weights on load. Refuses, with an error naming the tensor, weights
// that hold NaN or infinity.
void save_checkpoint(const std::string& run_dir, const RunConfig& config,
                     const NamedWeights& weights, const Tokenizer* tokenizer, int64_t step,
                     const CheckpointExtras& extras = {}, const SaveHook& hook = {});
// The same with `model`'s weights.
void save_checkpoint(const std::string& run_dir, const RunConfig& config, const Model& model,
                     const Tokenizer* tokenizer, int64_t step, const CheckpointExtras& extras = {},
                     const SaveHook& hook = {});

// The step recorded in CHECKPOINT_DIR/model.safetensors ("" when absent).
std::string checkpoint_weights_step(const std::string& checkpoint_dir);

// A checkpoint whose files are checked but whose weights are not read yet.
struct CheckpointFiles {
  std::string dir;  // the checkpoint directory read
  RunConfig config;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the run had none (synthetic data)
  SafeTensorsFile weights;               // model.safetensors' header
};

// Resolves DIR, checks every file against manifest.json (when there is one), reads config.json
// and the tokenizer, and checks that model.safetensors holds exactly the tensors, with the names,
// dtypes and shapes, that config.json defines. Allocates nothing in proportion to the model, so a
// config.json that does not match its weights fails here, before any memory is committed.
CheckpointFiles open_checkpoint(const std::string& dir);

struct LoadedCheckpoint {
  std::string dir;  // the checkpoint directory read
  RunConfig config;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the run had none (synthetic data)
};

// A checkpoint's config.json text as a run configuration whose model settings are validated;
// `path` names the file in messages.
RunConfig parse_checkpoint_config(std::string_view text, const std::string& path);
// The run configuration of the checkpoint for DIR (resolve_checkpoint_dir), without reading or
// verifying its other files.
RunConfig read_checkpoint_config(const std::string& dir);

// Builds the model on `device` and reads the weights into it (through host memory: the files do
// not depend on the device); refuses weights that hold NaN or infinity. With an `exchange`
// (expert parallel) the model holds, and reads, only the exchange's slice of the experts.
LoadedCheckpoint load_checkpoint(CheckpointFiles files, Device device = Device::CPU,
                                 ExpertExchange* exchange = nullptr);

// open_checkpoint, then load_checkpoint(files, device).
LoadedCheckpoint load_checkpoint(const std::string& dir, Device device = Device::CPU);

}  // namespace moe
