// The Hugging Face config.json of our Llama-style models: transformers' MixtralForCausalLM (every
// layer MoE) and LlamaForCausalLM (every layer dense), by the field names of MixtralConfig and
// LlamaConfig (transformers/models/{mixtral,llama}/configuration_*.py). Both directions refuse,
// with an error naming the setting, what the other side cannot express.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace moe {

// Throws unless transformers' Mixtral or Llama computes exactly what `m` computes at inference:
// arch llama, the plain top-k router, no shared experts, no capacity limit, and every layer MoE or
// every layer dense.
void check_hf_exportable(const ModelConfig& m);

// config.json for `m` (checked by check_hf_exportable); `eos_id` is the tokenizer's end-of-text
// token (bos and eos, as GPT-2 has them), `torch_dtype` "float32", "bfloat16" or "float16".
nlohmann::ordered_json hf_config_json(const ModelConfig& m, std::optional<int32_t> eos_id,
                                      const std::string& torch_dtype);

// generation_config.json: the token ids generation starts and stops with.
nlohmann::ordered_json hf_generation_config_json(std::optional<int32_t> eos_id);

// Our model settings from a Mixtral or Llama config.json (`path` names it in messages). Refuses an
// unknown architecture and every field whose value changes the computation in a way our model
// cannot follow (rope_scaling, attention_bias, mlp_bias, hidden_act other than silu, a sliding
// window shorter than the context, tied embeddings, a head_dim other than hidden_size /
// num_attention_heads, router jitter, quantization).
ModelConfig model_config_from_hf(const nlohmann::json& config, const std::string& path);

}  // namespace moe
