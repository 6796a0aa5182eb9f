// Checkpoints: a directory holding model.safetensors (weights, Hugging Face names), config.json
// (the run configuration), tokenizer.json (when the run has a tokenizer) and whatever the caller
// adds (the trainer adds train_state.safetensors: see train/train_state.h).
//
// A run directory keeps its latest checkpoint in RUN/checkpoint/. Saving writes a complete new
// directory RUN/.checkpoint.tmp, then swaps it in with renames (the old one becomes
// RUN/.checkpoint.old until the swap is done), so a crash at any point leaves a complete
// checkpoint on disk; loading falls back to .checkpoint.old when the swap was interrupted.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/tensor.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace moe {

// The checkpoint directory to read for DIR: DIR/checkpoint (or its interrupted-swap backup) when
// DIR is a run directory, else DIR itself. Throws when neither holds a checkpoint.
std::string resolve_checkpoint_dir(const std::string& dir);

// Whether the run directory RUN holds a checkpoint (RUN/checkpoint or its backup).
bool run_has_checkpoint(const std::string& run_dir);

// Writes further files (the trainer's state) into the staging directory before the swap.
using CheckpointExtras = std::function<void(const std::string& staging_dir)>;

// Writes RUN/checkpoint atomically (see above); `step` is recorded in model.safetensors so that
// files written beside it (by `extras`) can be checked against the weights on load.
void save_checkpoint(const std::string& run_dir, const RunConfig& config, const Model& model,
                     const Tokenizer* tokenizer, int64_t step, const CheckpointExtras& extras = {});

// The step recorded in CHECKPOINT_DIR/model.safetensors ("" when absent).
std::string checkpoint_weights_step(const std::string& checkpoint_dir);

struct LoadedCheckpoint {
  std::string dir;  // the checkpoint directory read
  RunConfig config;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the run had none (synthetic data)
};

// A checkpoint's config.json text as a run configuration whose model settings are validated;
// `path` names the file in messages.
RunConfig parse_checkpoint_config(std::string_view text, const std::string& path);

// Loads config, tokenizer and weights (names, shapes and dtypes checked against the config).
LoadedCheckpoint load_checkpoint(const std::string& dir);

}  // namespace moe
