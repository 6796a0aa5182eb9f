// `moe export --format hf`: a checkpoint as a Hugging Face folder that transformers loads with
// AutoModelForCausalLM.from_pretrained: config.json (hf_config.h), the weights (hf_weights.h;
// our tensor names are already Hugging Face's), generation_config.json and the tokenizer
// (hf_tokenizer.h). The folder is built under a temporary name beside OUT and renamed to OUT at
// the end; on any error the temporary is removed and nothing is left under OUT.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "interop/hf_weights.h"
#include "model/safetensors.h"

namespace moe {

struct HfExportOptions {
  StoredDType floats = StoredDType::F32;  // F32, BF16 or F16
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;
};

struct HfExportResult {
  std::vector<std::string> files;  // written into OUT, sorted
  int64_t params = 0;
  uint64_t bytes = 0;  // all files together
};

// Exports the checkpoint in DIR (a run or checkpoint directory) to OUT, which must not exist.
// Refuses, naming the setting, a model or tokenizer transformers cannot express (see
// check_hf_exportable; a character-level tokenizer), and F16 for weights beyond its range.
HfExportResult export_hf(const std::string& checkpoint_dir, const std::string& out_dir,
                         const HfExportOptions& options);

}  // namespace moe
