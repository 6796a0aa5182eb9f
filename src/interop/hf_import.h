// `moe import --format hf`: a Hugging Face Mixtral or Llama folder (config.json, weights single or
// sharded in F32, BF16 or F16, a byte-level BPE tokenizer) becomes a checkpoint of ours, written by
// save_checkpoint (manifest included), ready for moe eval, moe generate and fine-tuning.
#pragma once
#include <cstdint>
#include <string>

#include "config/config.h"

namespace moe {

struct HfImportResult {
  std::string checkpoint_dir;  // RUN/checkpoint
  RunConfig config;
  int64_t params = 0;
};

// Reads HF_DIR and writes the run directory OUT (which must not hold a checkpoint yet). Names,
// shapes, dtypes and config fields are checked before anything is written; what our model cannot
// compute is refused by name (model_config_from_hf), as are missing, extra or misshapen tensors
// and non-finite weights.
HfImportResult import_hf(const std::string& hf_dir, const std::string& out_run_dir);

}  // namespace moe
