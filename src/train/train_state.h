// The trainer's state beside the weights in a checkpoint: train_state.safetensors holds the AdamW
// moments as tensors and the step, best validation loss and elapsed time as metadata.
#pragma once
#include <cstdint>
#include <string>

#include "config/config.h"
#include "core/tensor.h"
#include "model/model.h"

namespace moe {

struct TrainState {
  int64_t step = 0;  // completed optimizer steps
  float best_val_loss = 0.0f;
  int64_t best_val_step = -1;  // -1: no eval yet
  int64_t evals_since_best = 0;
  double elapsed_seconds = 0.0;  // training time of the steps so far
  // (shard) flat, laid out as elements [moments_first, moments_first + shard) of the parameter
  // table: the whole table, unless ZeRO-1 gives this process a shard.
  Tensor adam_m, adam_v;
  int64_t moments_first = 0;
};

// Writes CHECKPOINT_DIR/train_state.safetensors from state's moments of the whole table of
// `model` (under expert parallelism: a model holding every expert, ArenaMode::Measure). Refuses,
// naming the tensor and the parameter, moments that hold NaN or infinity or a negative second
// moment (AdamW would turn either into NaN weights).
void save_train_state(const std::string& checkpoint_dir, const RunConfig& config,
                      const Model& model, const TrainState& state);

// Reads train_state.safetensors into state (whose adam_m/adam_v tensors must be allocated: the
// file holds the whole model's moments, and state takes its shard of them, or, when `model` holds
// a slice of the experts (expert parallel), its parameters' moments), checks that it comes
// from the same save as the weights beside it, and refuses moments that save_train_state would not
// have written.
void load_train_state(const std::string& checkpoint_dir, const Model& model, TrainState& state);

}  // namespace moe
