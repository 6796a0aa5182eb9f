#include "train/init_from.h"

#include "core/check.h"

namespace moe {

namespace {

// The model settings that shape training but not the weights: regularisation, the router's
// auxiliary losses, its temperature schedule and noise at evaluation, the capacity limit, and how
// fresh weights would be drawn (the checkpoint's are loaded instead). A
// run started from a checkpoint chooses its own (fine-tuning with dropout, an imported model that
// carries none of them); the model is built with the run's values.
void take_training_choices(ModelConfig& checkpoint, const ModelConfig& run) {
  checkpoint.dropout = run.dropout;
  checkpoint.expert_dropout = run.expert_dropout;
  checkpoint.aux_loss_coef = run.aux_loss_coef;
  checkpoint.z_loss_coef = run.z_loss_coef;
  checkpoint.seq_aux_loss_coef = run.seq_aux_loss_coef;
  checkpoint.aux_loss_scope = run.aux_loss_scope;
  checkpoint.router_temperature = run.router_temperature;
  checkpoint.router_temperature_end = run.router_temperature_end;
  checkpoint.router_temperature_steps = run.router_temperature_steps;
  checkpoint.router_noise_at_eval = run.router_noise_at_eval;
  checkpoint.capacity_factor = run.capacity_factor;
  checkpoint.init = run.init;
  checkpoint.init_std = run.init_std;
}

}  // namespace

CheckpointFiles open_init_checkpoint(RunConfig& config) {
  CheckpointFiles files = open_checkpoint(config.train.init_from);
  const std::string where = "train.init_from: the checkpoint " + files.dir;
  if (config.data.needs_tokenizer()) {
    MOE_CHECK(files.tokenizer != nullptr, where,
              " has no tokenizer (it was trained on synthetic token ids) but data.source = ",
              config.data.source, " is text");
    config.model.vocab_size = files.config.model.vocab_size;
  } else {
    MOE_CHECK(files.tokenizer == nullptr, where, " reads text through its ",
              files.tokenizer->type(), " tokenizer but data.source = synthetic gives token ids");
  }
  take_training_choices(files.config.model, config.model);
  if (const auto d = first_model_difference(files.config.model, config.model))
    fail(where, " has ", d->name, " = ", d->a.dump(), " but this run sets ", d->b.dump(),
         "; a run started from a checkpoint keeps its model settings");
  return files;
}

}  // namespace moe
