// Starting a new run from a checkpoint's weights (train.init_from): fine-tuning, or continuing an
// upcycled model (interop/upcycle.h). The run keeps its own train and data settings and starts at
// step 0 with a fresh optimizer; the model and its vocabulary are the checkpoint's.
#pragma once
#include "config/config.h"
#include "model/checkpoint.h"

namespace moe {

// Opens the checkpoint that config.train.init_from names (a run directory or a checkpoint
// directory) and checks it against the run: the model settings must be the checkpoint's (an error
// names the first that differs), except the training choices among them (dropout, aux and z loss
// weights, router temperature schedule and eval noise, capacity factor, init scheme), which are the
// run's, and the data must be read through the checkpoint's tokenizer (text data needs one,
// synthetic token ids must not have one). When the data brings a tokenizer, model.vocab_size is set
// to the checkpoint's first, since a fresh run would take it from the data.
CheckpointFiles open_init_checkpoint(RunConfig& config);

}  // namespace moe
