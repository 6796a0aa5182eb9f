// Checkpoints: a directory holding model.safetensors (weights, Hugging Face names), config.json
// (the run configuration), tokenizer.json (when the run has a tokenizer) and
// train_state.safetensors (AdamW moments, step and the rest of the trainer's state).
//
// A run directory keeps its latest checkpoint in RUN/checkpoint/. Saving writes a complete new
// directory RUN/.checkpoint.tmp, then swaps it in with renames (the old one becomes
// RUN/.checkpoint.old until the swap is done), so a crash at any point leaves a complete
// checkpoint on disk; loading falls back to .checkpoint.old when the swap was interrupted.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "model/config.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace moe {

struct TrainState {
  int64_t step = 0;  // completed optimizer steps
  float best_val_loss = 0.0f;
  int64_t best_val_step = -1;  // -1: no eval yet
  int64_t evals_since_best = 0;
  double elapsed_seconds = 0.0;  // training time of the steps so far
  Tensor adam_m, adam_v;         // (numel) flat, same layout as the parameter table
};

// The checkpoint directory to read for DIR: DIR/checkpoint (or its interrupted-swap backup) when
// DIR is a run directory, else DIR itself. Throws when neither holds a checkpoint.
std::string resolve_checkpoint_dir(const std::string& dir);

// Whether the run directory RUN holds a checkpoint (RUN/checkpoint or its backup).
bool run_has_checkpoint(const std::string& run_dir);

// Writes RUN/checkpoint atomically (see above). state may be null (weights-only checkpoint).
void save_checkpoint(const std::string& run_dir, const RunConfig& config, const Model& model,
                     const Tokenizer* tokenizer, const TrainState* state);

struct LoadedCheckpoint {
  std::string dir;  // the checkpoint directory read
  RunConfig config;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the run had none (synthetic data)
};

// Loads config, tokenizer and weights (names, shapes and dtypes checked against the config).
LoadedCheckpoint load_checkpoint(const std::string& dir);

// Reads train_state.safetensors into state (whose adam_m/adam_v tensors must be allocated).
void load_train_state(const std::string& checkpoint_dir, const Model& model, TrainState& state);

}  // namespace moe
