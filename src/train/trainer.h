// The training loop: AdamW with warmup + cosine LR, gradient accumulation and clipping, periodic
// evaluation with early stopping, metrics.jsonl, atomic checkpoints, and exact resume.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/memory.h"
#include "core/tensor.h"

namespace moe {

struct TrainResult {
  int64_t params = 0;
  int64_t active_params = 0;
  double flops_per_token = 0.0;  // training FLOPs per token (Model::flops_per_token)
  MemoryUse memory;              // what the run holds in its arenas
  int64_t steps = 0;             // completed steps
  double tokens_per_s = 0.0;     // training tokens over training time (evals excluded)
  double train_loss = 0.0;       // last eval's
  double val_loss = 0.0;         // last eval's
  double best_val_loss = 0.0;
  double seconds = 0.0;  // wall time of this invocation
  bool stopped_early = false;
  // The signal (SIGINT, SIGTERM) that stopped the run after a step and a checkpoint, or 0; the
  // run continues with --resume. Without an eval, the losses above are 0.
  int stop_signal = 0;
};

struct TrainOptions {
  std::string out_dir;
  bool resume = false;           // continue the run in out_dir from its checkpoint
  std::optional<int64_t> steps;  // total steps of the run (overrides the config)
  // train.device of the run: overrides the config's, and on resume the checkpoint's (checkpoints
  // do not depend on the device).
  std::optional<std::string> device;
  // "dist.key=value" settings that override, on resume, the checkpoint's (they change where the
  // state lives, not what a step computes).
  std::vector<std::string> dist_settings;
  bool quiet = false;  // no progress output (tests)
};

// The device `config` trains on (train.device); throws, with the reason, when this build or
// machine has no backend for it. train() calls it before it writes or allocates anything.
Device training_device(const RunConfig& config);

// Trains `config` (ignored when resuming: the checkpoint's config is used) and returns the
// summary that `moe train` prints as its last line. A stop asked for by a signal
// (train/stop_signal.h) ends the run after the current step, with a checkpoint.
TrainResult train(const RunConfig& config, const TrainOptions& options);

}  // namespace moe
