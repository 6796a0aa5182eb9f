#include "interop/hf_config.h"

#include <charconv>
#include <string>

#include "core/check.h"
#include "core/json.h"

namespace moe {
namespace {

constexpr const char* kMixtral = "MixtralForCausalLM";
constexpr const char* kLlama = "LlamaForCausalLM";

// A float setting as the shortest decimal that reads back as the same float (1e-05, not the
// 9.999999747378752e-06 of its double), so config.json shows the number that was configured.
double json_float(float x) {
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, x);
  return std::stod(std::string(text, end));
}

nlohmann::json token_id(std::optional<int32_t> id) {
  return id ? nlohmann::json(*id) : nlohmann::json(nullptr);
}

// Readers of config.json members; `source` is "config.json PATH".
int64_t required_int(const nlohmann::json& j, const char* key, const std::string& source) {
  MOE_CHECK(j.contains(key), source, " has no \"", key, "\"");
  return json_value_or<int64_t>(j, key, 0, source);
}

int64_t int_or(const nlohmann::json& j, const char* key, int64_t fallback,
               const std::string& source) {
  if (j.contains(key) && j[key].is_null()) return fallback;
  return json_value_or<int64_t>(j, key, fallback, source);
}

float float_or(const nlohmann::json& j, const char* key, double fallback,
               const std::string& source) {
  return static_cast<float>(json_value_or<double>(j, key, fallback, source));
}

bool bool_or(const nlohmann::json& j, const char* key, bool fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  MOE_CHECK(j[key].is_boolean(), source, ": \"", key, "\" must be true or false, not ",
            json_excerpt(j[key]));
  return j[key].get<bool>();
}

// Refuses a field that is present with a value other than null.
void refuse_set(const nlohmann::json& j, const char* key, const std::string& source,
                const char* why) {
  if (j.contains(key) && !j[key].is_null())
    fail(source, ": \"", key, "\" = ", json_excerpt(j[key]), " is not supported (", why, ")");
}

}  // namespace

void check_hf_exportable(const ModelConfig& m) {
  const char* target = "transformers' Mixtral/Llama cannot express it";
  MOE_CHECK(!m.is_gpt(),
            "cannot export model.arch = gpt to Hugging Face: GPT-style models "
            "(learned positions, LayerNorm, biases) have no Llama or Mixtral equivalent; only "
            "model.arch = llama exports");
  if (m.moe_layer_indices().empty()) return;  // dense: Llama, the router settings are unused
  MOE_CHECK(
      m.moe_layers == "all" || static_cast<int64_t>(m.moe_layer_indices().size()) == m.n_layers,
      "cannot export model.moe_layers = \"", m.moe_layers,
      "\" to Hugging Face: Mixtral's config has every layer MoE (and Llama's none), so a "
      "mix of dense and MoE layers cannot be expressed");
  MOE_CHECK(m.router == "topk", "cannot export model.router = ", m.router,
            " to Hugging Face: ", target, " (Mixtral routes by plain top-k of the gate logits)");
  MOE_CHECK(m.router_score == "softmax", "cannot export model.router_score = ", m.router_score,
            " to Hugging Face: ", target, " (Mixtral's gates are a softmax of the gate logits)");
  MOE_CHECK(!m.router_bias, "cannot export model.router_bias = true to Hugging Face: ", target,
            " (Mixtral selects experts without per-expert biases)");
  MOE_CHECK(m.n_shared_experts == 0, "cannot export model.n_shared_experts = ", m.n_shared_experts,
            " to Hugging Face: ", target, " (Mixtral has no shared experts)");
  MOE_CHECK(m.capacity_factor == 0.0f, "cannot export model.capacity_factor = ", m.capacity_factor,
            " to Hugging Face: ", target, " (Mixtral never drops tokens)");
}

nlohmann::ordered_json hf_config_json(const ModelConfig& m, std::optional<int32_t> eos_id,
                                      const std::string& torch_dtype) {
  check_hf_exportable(m);
  const bool moe = !m.moe_layer_indices().empty();
  nlohmann::ordered_json j;
  j["architectures"] = {moe ? kMixtral : kLlama};
  j["model_type"] = moe ? "mixtral" : "llama";
  j["vocab_size"] = m.vocab_size;
  j["hidden_size"] = m.n_embed;
  // Mixtral's intermediate_size is its experts' size; an exportable MoE model has no dense layer
  // or shared expert, so a fine-grained expert size (model.expert_hidden) is that size.
  j["intermediate_size"] = moe ? m.expert_ffn_hidden() : m.ffn_hidden;
  j["num_hidden_layers"] = m.n_layers;
  j["num_attention_heads"] = m.n_heads;
  j["num_key_value_heads"] = m.kv_heads();
  j["head_dim"] = m.head_dim();
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = m.block_size;
  j["initializer_range"] = json_float(m.init_std);
  j["rms_norm_eps"] = json_float(m.norm_eps);
  j["rope_theta"] = json_float(m.rope_theta);
  j["rope_scaling"] = nullptr;
  j["attention_dropout"] = 0.0;
  if (moe) {
    j["num_local_experts"] = m.n_experts;
    j["num_experts_per_tok"] = m.top_k;
    j["router_aux_loss_coef"] = json_float(m.aux_loss_coef);
    j["router_jitter_noise"] = 0.0;
    j["output_router_logits"] = false;
    j["sliding_window"] = nullptr;
  } else {
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
    j["pretraining_tp"] = 1;
  }
  j["tie_word_embeddings"] = false;
  j["use_cache"] = true;
  j["bos_token_id"] = token_id(eos_id);
  j["eos_token_id"] = token_id(eos_id);
  j["torch_dtype"] = torch_dtype;
  return j;
}

nlohmann::ordered_json hf_generation_config_json(std::optional<int32_t> eos_id) {
  nlohmann::ordered_json j;
  j["_from_model_config"] = true;
  j["bos_token_id"] = token_id(eos_id);
  j["eos_token_id"] = token_id(eos_id);
  return j;
}

ModelConfig model_config_from_hf(const nlohmann::json& j, const std::string& path) {
  const std::string source = "config.json " + path;
  MOE_CHECK(j.is_object(), source, " is not a JSON object");
  MOE_CHECK(j.contains("architectures") && j["architectures"].is_array() &&
                j["architectures"].size() == 1 && j["architectures"][0].is_string(),
            source, ": \"architectures\" must name one architecture (", kMixtral, " or ", kLlama,
            ")");
  const std::string arch = j["architectures"][0].get<std::string>();
  MOE_CHECK(arch == kMixtral || arch == kLlama, source, ": architecture ", excerpt(arch),
            " is not supported (supported: ", kMixtral, ", ", kLlama, ")");
  const bool moe = arch == kMixtral;
  const std::string model_type = json_value_or<std::string>(j, "model_type", "", source);
  MOE_CHECK(model_type.empty() || model_type == (moe ? "mixtral" : "llama"), source,
            ": model_type ", excerpt(model_type), " does not match architecture ", arch);

  // Settings that change the computation in ways our model does not follow.
  const std::string act = json_value_or<std::string>(j, "hidden_act", "silu", source);
  MOE_CHECK(act == "silu", source, ": hidden_act = ", excerpt(act),
            " is not supported (the experts compute SwiGLU with silu)");
  refuse_set(j, "rope_scaling", source, "RoPE is applied unscaled");
  refuse_set(j, "quantization_config", source, "weights must be F32, BF16 or F16");
  for (const char* key : {"attention_bias", "mlp_bias"})
    MOE_CHECK(!bool_or(j, key, false, source), source, ": ", key,
              " = true is not supported (the projections have no biases)");
  MOE_CHECK(!bool_or(j, "tie_word_embeddings", false, source), source,
            ": tie_word_embeddings = true is not supported (the model keeps lm_head.weight apart "
            "from model.embed_tokens.weight)");
  MOE_CHECK(json_value_or<double>(j, "router_jitter_noise", 0.0, source) == 0.0, source,
            ": router_jitter_noise other than 0 is not supported (the router draws no noise)");
  // RoPE settings: transformers 5 keeps them in rope_parameters, earlier versions at the top.
  double rope_theta = moe ? 1e6 : 1e4;  // MixtralConfig's and LlamaConfig's defaults
  if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) {
    const nlohmann::json& rope = j["rope_parameters"];
    const std::string rope_source = source + " rope_parameters";
    const std::string type = json_value_or<std::string>(rope, "rope_type", "default", rope_source);
    MOE_CHECK(type == "default", source, ": rope_parameters.rope_type = ", excerpt(type),
              " is not supported (RoPE is applied unscaled)");
    rope_theta = json_value_or<double>(rope, "rope_theta", rope_theta, rope_source);
  }
  rope_theta = json_value_or<double>(j, "rope_theta", rope_theta, source);

  ModelConfig m;
  m.arch = "llama";
  m.vocab_size = required_int(j, "vocab_size", source);
  m.n_embed = required_int(j, "hidden_size", source);
  m.ffn_hidden = required_int(j, "intermediate_size", source);
  m.n_layers = required_int(j, "num_hidden_layers", source);
  m.n_heads = required_int(j, "num_attention_heads", source);
  m.n_kv_heads = int_or(j, "num_key_value_heads", m.n_heads, source);
  m.block_size = required_int(j, "max_position_embeddings", source);
  MOE_CHECK(m.n_heads > 0 && m.n_embed % m.n_heads == 0, source, ": hidden_size ", m.n_embed,
            " is not a multiple of num_attention_heads ", m.n_heads);
  const int64_t head_dim = int_or(j, "head_dim", m.n_embed / m.n_heads, source);
  MOE_CHECK(head_dim == m.n_embed / m.n_heads, source, ": head_dim = ", head_dim,
            " is not supported (the head size is hidden_size / num_attention_heads = ",
            m.n_embed / m.n_heads, ")");
  const int64_t window = int_or(j, "sliding_window", m.block_size, source);
  MOE_CHECK(window >= m.block_size, source, ": sliding_window = ", window,
            " is not supported (attention sees the whole context of max_position_embeddings = ",
            m.block_size, ")");
  m.norm_eps = float_or(j, "rms_norm_eps", moe ? 1e-5 : 1e-6, source);
  m.rope_theta = static_cast<float>(rope_theta);
  m.init = "normal";
  m.init_std = float_or(j, "initializer_range", 0.02, source);
  m.dropout = 0.0f;
  m.router = "topk";
  m.z_loss_coef = 0.0f;
  if (moe) {
    m.moe_layers = "all";
    m.n_experts = required_int(j, "num_local_experts", source);
    m.top_k = required_int(j, "num_experts_per_tok", source);
    m.aux_loss_coef = float_or(j, "router_aux_loss_coef", 0.001, source);
  } else {
    m.moe_layers = "none";
    m.aux_loss_coef = 0.0f;
  }
  try {
    m.validate();
  } catch (const Error& e) {
    fail(source, ": ", e.what());
  }
  return m;
}

}  // namespace moe
