#include "interop/hf_import.h"

#include "core/check.h"
#include "core/json.h"
#include "core/non_finite.h"
#include "interop/hf_config.h"
#include "interop/hf_tokenizer.h"
#include "interop/hf_weights.h"
#include "model/checkpoint.h"
#include "model/model.h"

namespace moe {
namespace {

// Every tensor the model defines is there, as a float of the right shape, and nothing else.
void check_tensors(const HfWeights& weights, const Model& expected, const std::string& dir) {
  for (const Param& p : expected.params().params()) {
    MOE_CHECK(weights.has(p.name), "Hugging Face folder ", dir, " lacks tensor ", p.name,
              ", which its config.json requires");
    const SafeTensorsFile::Entry& e = weights.entry(p.name);
    MOE_CHECK(e.dtype == DType::F32 && e.shape == p.shape, "tensor ", p.name, " in ", dir, " is ",
              stored_dtype_name(e.stored), " ", e.shape.str(), " but its config.json needs ",
              p.shape.str(), " in F32, BF16 or F16");
  }
  for (const std::string& name : weights.names())
    MOE_CHECK(expected.params().find(name) != nullptr, "Hugging Face folder ", dir, " has tensor ",
              excerpt(name), ", which a ",
              expected.config().moe_layers == "none" ? "Llama" : "Mixtral",
              " model of its config.json does not have");
}

}  // namespace

HfImportResult import_hf(const std::string& hf_dir, const std::string& out_run_dir) {
  MOE_CHECK(!run_has_checkpoint(out_run_dir), "run directory ", out_run_dir,
            " already holds a checkpoint; choose a new --out");
  const std::string config_path = hf_dir + "/config.json";
  RunConfig config;
  config.model = model_config_from_hf(read_json_file(config_path), config_path);
  const std::unique_ptr<BpeTokenizer> tokenizer = read_hf_tokenizer(hf_dir);
  MOE_CHECK(tokenizer->vocab_size() <= config.model.vocab_size, "Hugging Face folder ", hf_dir,
            ": the tokenizer has ", tokenizer->vocab_size(),
            " tokens but config.json's vocab_size is ", config.model.vocab_size);
  const HfWeights weights = HfWeights::open(hf_dir);
  check_tensors(weights, Model(config.model, ArenaMode::Measure), hf_dir);

  Model model(config.model);
  for (Param& p : model.params().params()) {
    weights.read_into(p.name, p.value);
    if (const auto bad = find_non_finite(p.value))
      fail("Hugging Face folder ", hf_dir, ": weight ", p.name, " holds ", bad->value, " (element ",
           bad->index, "); non-finite weights cannot be imported");
  }
  save_checkpoint(out_run_dir, config, model, tokenizer.get(), 0);
  return {resolve_checkpoint_dir(out_run_dir), config, model.param_count()};
}

}  // namespace moe
