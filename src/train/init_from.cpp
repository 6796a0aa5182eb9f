#include "train/init_from.h"

#include "core/check.h"

namespace moe {

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
  if (const auto d = first_model_difference(files.config.model, config.model))
    fail(where, " has ", d->name, " = ", d->a.dump(), " but this run sets ", d->b.dump(),
         "; a run started from a checkpoint keeps its model settings");
  return files;
}

}  // namespace moe
