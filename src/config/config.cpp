#include "config/config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include <toml++/toml.h>

#include "core/check.h"
#include "core/fs.h"
#include "core/tensor.h"

namespace moe {

namespace {

// One configuration field: its qualified name and how to read/write it as a string or JSON.
struct Field {
  std::string name;
  std::function<void(RunConfig&, const std::string&)> set;
  std::function<nlohmann::json(const RunConfig&)> get;
};

int64_t parse_int(const std::string& key, const std::string& v) {
  size_t pos = 0;
  int64_t out = 0;
  try {
    out = std::stoll(v, &pos);
  } catch (const std::out_of_range&) {
    fail("config key '", key, "' = ", excerpt(v), " is outside the 64-bit integer range");
  } catch (const std::invalid_argument&) {
    pos = 0;
  }
  MOE_CHECK(pos == v.size() && !v.empty(), "config key '", key, "' expects an integer, got '",
            excerpt(v), "'");
  return out;
}

float parse_float(const std::string& key, const std::string& v) {
  size_t pos = 0;
  float out = 0;
  try {
    out = std::stof(v, &pos);
  } catch (const std::out_of_range&) {
    fail("config key '", key, "' = ", excerpt(v), " is outside the range of a 32-bit float");
  } catch (const std::invalid_argument&) {
    pos = 0;
  }
  MOE_CHECK(pos == v.size() && !v.empty() && std::isfinite(out), "config key '", key,
            "' expects a number, got '", excerpt(v), "'");
  return out;
}

bool parse_bool(const std::string& key, const std::string& v) {
  MOE_CHECK(v == "true" || v == "false", "config key '", key, "' expects true or false, got '",
            excerpt(v), "'");
  return v == "true";
}

template <typename Section, typename T>
Field make_field(const std::string& name, Section RunConfig::*section, T Section::*member) {
  Field f;
  f.name = name;
  f.set = [=](RunConfig& c, const std::string& v) {
    if constexpr (std::is_same_v<T, int64_t>) {
      c.*section.*member = parse_int(name, v);
    } else if constexpr (std::is_same_v<T, float>) {
      c.*section.*member = parse_float(name, v);
    } else if constexpr (std::is_same_v<T, bool>) {
      c.*section.*member = parse_bool(name, v);
    } else {
      c.*section.*member = v;
    }
  };
  f.get = [=](const RunConfig& c) { return nlohmann::json(c.*section.*member); };
  return f;
}

const std::vector<Field>& fields() {
  static const std::vector<Field> table = [] {
    using R = RunConfig;
    using M = ModelConfig;
    using T = TrainConfig;
    using D = DataConfig;
    using S = DistConfig;
    std::vector<Field> f;
    auto m = [&](const char* n, auto M::*p) {
      f.push_back(make_field(std::string("model.") + n, &R::model, p));
    };
    auto t = [&](const char* n, auto T::*p) {
      f.push_back(make_field(std::string("train.") + n, &R::train, p));
    };
    auto d = [&](const char* n, auto D::*p) {
      f.push_back(make_field(std::string("data.") + n, &R::data, p));
    };
    auto s = [&](const char* n, auto S::*p) {
      f.push_back(make_field(std::string("dist.") + n, &R::dist, p));
    };
    m("arch", &M::arch);
    m("vocab_size", &M::vocab_size);
    m("block_size", &M::block_size);
    m("n_embed", &M::n_embed);
    m("n_layers", &M::n_layers);
    m("n_heads", &M::n_heads);
    m("n_kv_heads", &M::n_kv_heads);
    m("ffn_hidden", &M::ffn_hidden);
    m("n_experts", &M::n_experts);
    m("top_k", &M::top_k);
    m("moe_layers", &M::moe_layers);
    m("router", &M::router);
    m("router_temperature", &M::router_temperature);
    m("router_temperature_end", &M::router_temperature_end);
    m("router_temperature_steps", &M::router_temperature_steps);
    m("router_noise_at_eval", &M::router_noise_at_eval);
    m("router_score", &M::router_score);
    m("routed_scaling_factor", &M::routed_scaling_factor);
    m("router_bias", &M::router_bias);
    m("n_shared_experts", &M::n_shared_experts);
    m("expert_hidden", &M::expert_hidden);
    m("capacity_factor", &M::capacity_factor);
    m("aux_loss_coef", &M::aux_loss_coef);
    m("z_loss_coef", &M::z_loss_coef);
    m("seq_aux_loss_coef", &M::seq_aux_loss_coef);
    m("aux_loss_scope", &M::aux_loss_scope);
    m("dropout", &M::dropout);
    m("expert_dropout", &M::expert_dropout);
    m("init", &M::init);
    m("init_std", &M::init_std);
    m("norm_eps", &M::norm_eps);
    m("rope_theta", &M::rope_theta);
    m("attention_scale", &M::attention_scale);
    t("batch_size", &T::batch_size);
    t("steps", &T::steps);
    t("grad_accum", &T::grad_accum);
    t("lr", &T::lr);
    t("min_lr", &T::min_lr);
    t("lr_schedule", &T::lr_schedule);
    t("warmup_steps", &T::warmup_steps);
    t("weight_decay", &T::weight_decay);
    t("weight_decay_params", &T::weight_decay_params);
    t("beta1", &T::beta1);
    t("beta2", &T::beta2);
    t("adam_eps", &T::adam_eps);
    t("grad_clip", &T::grad_clip);
    t("eval_every", &T::eval_every);
    t("eval_iters", &T::eval_iters);
    t("ckpt_every", &T::ckpt_every);
    t("early_stop_patience", &T::early_stop_patience);
    t("log_every", &T::log_every);
    t("seed", &T::seed);
    t("threads", &T::threads);
    t("device", &T::device);
    t("init_from", &T::init_from);
    t("router_bias_update", &T::router_bias_update);
    t("router_bias_update_until", &T::router_bias_update_until);
    t("precision", &T::precision);
    t("stochastic_rounding", &T::stochastic_rounding);
    d("source", &D::source);
    d("path", &D::path);
    d("train_fraction", &D::train_fraction);
    d("synthetic_tokens", &D::synthetic_tokens);
    d("dir", &D::dir);
    d("sampling", &D::sampling);
    s("zero", &S::zero);
    s("bucket_mib", &S::bucket_mib);
    s("expert_parallel", &S::expert_parallel);
    return f;
  }();
  return table;
}

// Resolves "n_embed" to "model.n_embed" when the bare name is unique.
const Field& find_field(const std::string& key) {
  const Field* match = nullptr;
  int matches = 0;
  for (const Field& f : fields()) {
    if (f.name == key) return f;
    auto dot = f.name.find('.');
    if (f.name.substr(dot + 1) == key) {
      match = &f;
      ++matches;
    }
  }
  MOE_CHECK(matches == 1, "unknown config key '", excerpt(key),
            "' (keys look like model.n_embed, train.lr, data.path)");
  return *match;
}

template <typename T>
void check_range(const std::string& key, T value, T lo, T hi) {
  MOE_CHECK(value >= lo && value <= hi, "config value ", key, " = ", value, " is out of range [",
            lo, ", ", hi, "]");
}

template <typename T>
void check_one_of(const std::string& key, const T& value,
                  std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (value == a) return;
  std::string list;
  for (const char* a : allowed)
    list += (list.empty() ? "" : ", ") + std::string(a);
  fail("config value ", key, " = '", excerpt(str_cat(value)), "' is not one of: ", list);
}

}  // namespace

bool ModelConfig::is_moe_layer(int64_t layer) const {
  auto idx = moe_layer_indices();
  return std::find(idx.begin(), idx.end(), layer) != idx.end();
}

std::vector<int64_t> ModelConfig::moe_layer_indices() const {
  std::vector<int64_t> out;
  if (moe_layers == "none") return out;
  if (moe_layers == "all") {
    for (int64_t i = 0; i < n_layers; ++i)
      out.push_back(i);
    return out;
  }
  if (moe_layers.rfind("every:", 0) == 0) {
    int64_t n = parse_int("model.moe_layers", moe_layers.substr(6));
    MOE_CHECK(n >= 1, "config value model.moe_layers = '", moe_layers, "': N must be >= 1");
    for (int64_t i = 0; i < n_layers; ++i)
      if (i % n == n - 1) out.push_back(i);
    return out;
  }
  std::stringstream ss(moe_layers);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int64_t i = parse_int("model.moe_layers", item);
    MOE_CHECK(i >= 0 && i < n_layers, "config value model.moe_layers names layer ", i,
              " but the model has ", n_layers, " layers");
    MOE_CHECK(std::find(out.begin(), out.end(), i) == out.end(),
              "config value model.moe_layers lists layer ", i, " twice");
    out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  return out;
}

float ModelConfig::temperature_at(int64_t step, int64_t total_steps) const {
  if (router != "temperature") return 1.0f;
  int64_t span = router_temperature_steps > 0 ? router_temperature_steps : total_steps;
  double frac =
      span > 0 ? std::min(1.0, static_cast<double>(step) / static_cast<double>(span)) : 1.0;
  return static_cast<float>(router_temperature +
                            (router_temperature_end - router_temperature) * frac);
}

std::string ModelConfig::non_causal_reason() const {
  if (!is_expert_choice() || moe_layer_indices().empty()) return "";
  return "model.router = expert_choice: each expert chooses its tokens across the whole batch, so "
         "a token's routing depends on the other tokens of its batch, later ones included; the "
         "model is not causal and its losses are not those of left-to-right prediction";
}

void ModelConfig::validate() const {
  check_one_of("model.arch", arch, {"gpt", "llama"});
  check_range<int64_t>("model.vocab_size", vocab_size, 2, int64_t{1} << 24);
  check_range<int64_t>("model.block_size", block_size, 1, 1 << 16);
  check_range<int64_t>("model.n_embed", n_embed, 1, 1 << 16);
  check_range<int64_t>("model.n_layers", n_layers, 1, 1024);
  check_range<int64_t>("model.n_heads", n_heads, 1, n_embed);
  MOE_CHECK(n_embed % n_heads == 0, "config: model.n_embed (", n_embed,
            ") must be divisible by model.n_heads (", n_heads, ")");
  check_range<int64_t>("model.n_kv_heads", n_kv_heads, 0, n_heads);
  MOE_CHECK(n_heads % kv_heads() == 0, "config: model.n_heads (", n_heads,
            ") must be divisible by model.n_kv_heads (", kv_heads(), ")");
  MOE_CHECK(arch == "llama" || kv_heads() == n_heads, "config: model.n_kv_heads (", n_kv_heads,
            ") must equal model.n_heads (", n_heads,
            ") for arch gpt; grouped-query attention is llama-only");
  MOE_CHECK(arch == "gpt" || head_dim() % 2 == 0, "config: RoPE needs an even head size, got ",
            head_dim());
  check_range<int64_t>("model.ffn_hidden", ffn_hidden, 1, 1 << 20);
  check_range<int64_t>("model.n_experts", n_experts, 1, 4096);
  check_range<int64_t>("model.top_k", top_k, 1, n_experts);
  moe_layer_indices();  // validates the layer list
  check_one_of("model.router", router, {"topk", "noisy_topk", "temperature", "expert_choice"});
  check_range("model.router_temperature", router_temperature, 1e-3f, 1e3f);
  check_range("model.router_temperature_end", router_temperature_end, 1e-3f, 1e3f);
  check_range<int64_t>("model.router_temperature_steps", router_temperature_steps, 0,
                       int64_t{1} << 40);
  MOE_CHECK(!router_noise_at_eval || router == "noisy_topk",
            "config: model.router_noise_at_eval needs model.router = noisy_topk (the only router "
            "that draws noise), got ",
            router);
  check_one_of("model.router_score", router_score, {"softmax", "sigmoid"});
  MOE_CHECK(
      router_score == "softmax" || router == "topk",
      "config: model.router_score = sigmoid needs model.router = topk, got ", router,
      " (the noisy router's noise and the temperature router's schedule are defined on softmax "
      "scores)");
  MOE_CHECK(routed_scaling_factor > 0.0f && routed_scaling_factor <= 1e3f,
            "config value model.routed_scaling_factor = ", routed_scaling_factor,
            " must be in (0, 1000]");
  MOE_CHECK(routed_scaling_factor == 1.0f || router_score == "sigmoid",
            "config: model.routed_scaling_factor = ", routed_scaling_factor,
            " needs model.router_score = sigmoid (softmax gates are not rescaled)");
  MOE_CHECK(!router_bias || router != "noisy_topk",
            "config: model.router_bias needs model.router = topk or temperature (the noisy router "
            "balances with its noise; use one of the two)");
  check_range<int64_t>("model.n_shared_experts", n_shared_experts, 0, 64);
  check_range<int64_t>("model.expert_hidden", expert_hidden, 0, 1 << 20);
  check_range("model.capacity_factor", capacity_factor, 0.0f, 1e3f);
  check_range("model.aux_loss_coef", aux_loss_coef, 0.0f, 1e3f);
  check_range("model.z_loss_coef", z_loss_coef, 0.0f, 1e3f);
  check_range("model.seq_aux_loss_coef", seq_aux_loss_coef, 0.0f, 1e3f);
  check_one_of("model.aux_loss_scope", aux_loss_scope, {"micro_batch", "global_batch"});
  MOE_CHECK(aux_loss_scope == "micro_batch" || aux_loss_coef > 0.0f,
            "config: model.aux_loss_scope = global_batch needs model.aux_loss_coef > 0 (it says "
            "where the Switch loss counts its expert fractions)");
  // Expert choice is balanced by construction (every expert takes the same number of tokens),
  // so the Switch load-balancing loss has nothing to balance (Zhou et al. 2022 use none), and its
  // capacity comes from model.top_k, the average number of experts per token.
  MOE_CHECK(!is_expert_choice() || aux_loss_coef == 0.0f,
            "config: model.aux_loss_coef = ", aux_loss_coef,
            " has no meaning with model.router = expert_choice (every expert takes the same number "
            "of tokens); set it to 0");
  MOE_CHECK(!is_expert_choice() || (!router_bias && seq_aux_loss_coef == 0.0f),
            "config: model.router = expert_choice takes neither model.router_bias nor "
            "model.seq_aux_loss_coef > 0 (its experts choose tokens, so there is no token "
            "selection to bias or balance)");
  // The routing-only pass of global-batch balancing would count each micro-batch's load twice.
  MOE_CHECK(!router_bias || aux_loss_scope == "micro_batch",
            "config: model.router_bias and model.aux_loss_scope = global_batch cannot be combined");
  MOE_CHECK(!is_expert_choice() || capacity_factor == 0.0f,
            "config: model.capacity_factor = ", capacity_factor,
            " has no meaning with model.router = expert_choice (each expert takes top_k * tokens / "
            "n_experts tokens); set it to 0");
  MOE_CHECK(dropout >= 0.0f && dropout < 1.0f, "config value model.dropout = ", dropout,
            " must be in [0, 1)");
  check_one_of("model.init", init, {"normal", "kaiming", "xavier"});
  check_range("model.init_std", init_std, 0.0f, 10.0f);
  check_range("model.norm_eps", norm_eps, 0.0f, 1.0f);
  check_range("model.rope_theta", rope_theta, 1.0f, 1e9f);
  check_range("model.attention_scale", attention_scale, 0.0f, 1e3f);
  MOE_CHECK(attention_scale == 0.0f || is_gpt(),
            "config: model.attention_scale = ", attention_scale,
            " needs model.arch = gpt (Llama-style models export to llama.cpp and Hugging Face, "
            "which scale attention by 1/sqrt(head_dim)); set it to 0");
}

void TrainConfig::validate() const {
  check_range<int64_t>("train.batch_size", batch_size, 1, kMaxBatchSize);
  check_range<int64_t>("train.steps", steps, 1, int64_t{1} << 40);
  check_range<int64_t>("train.grad_accum", grad_accum, 1, 1 << 16);
  check_range("train.lr", lr, 0.0f, 10.0f);
  check_range("train.min_lr", min_lr, 0.0f, lr);
  check_one_of("train.lr_schedule", lr_schedule, {"cosine", "constant"});
  check_range<int64_t>("train.warmup_steps", warmup_steps, 0, int64_t{1} << 40);
  check_range("train.weight_decay", weight_decay, 0.0f, 10.0f);
  check_one_of("train.weight_decay_params", weight_decay_params, {"weights", "all"});
  MOE_CHECK(beta1 >= 0 && beta1 < 1, "config value train.beta1 = ", beta1, " must be in [0, 1)");
  MOE_CHECK(beta2 >= 0 && beta2 < 1, "config value train.beta2 = ", beta2, " must be in [0, 1)");
  // eps = 0 makes every update of a parameter whose gradient stays 0 a 0/0: NaN weights.
  MOE_CHECK(adam_eps > 0.0f && adam_eps <= 1.0f, "config value train.adam_eps = ", adam_eps,
            " must be in (0, 1]");
  check_range("train.grad_clip", grad_clip, 0.0f, 1e6f);
  check_range<int64_t>("train.eval_every", eval_every, 0, int64_t{1} << 40);
  check_range<int64_t>("train.eval_iters", eval_iters, 1, 1 << 20);
  check_range<int64_t>("train.ckpt_every", ckpt_every, 0, int64_t{1} << 40);
  check_range<int64_t>("train.early_stop_patience", early_stop_patience, 0, 1 << 20);
  check_range<int64_t>("train.log_every", log_every, 1, int64_t{1} << 40);
  check_range<int64_t>("train.threads", threads, 0, kMaxThreads);
  check_range("train.router_bias_update", router_bias_update, 0.0f, 1.0f);
  check_range<int64_t>("train.router_bias_update_until", router_bias_update_until, 0,
                       int64_t{1} << 40);
  check_one_of("train.precision", precision, {"fp32", "bf16"});
  MOE_CHECK(!stochastic_rounding || bf16(),
            "config value train.stochastic_rounding = true needs train.precision = bf16 (fp32 "
            "training rounds nothing)");
  device_kind();  // validates the device name
}

float TrainConfig::router_bias_update_at(int64_t step) const {
  return router_bias_update_until > 0 && step >= router_bias_update_until ? 0.0f
                                                                          : router_bias_update;
}

Device TrainConfig::device_kind() const {
  const std::optional<Device> d = device_from_name(device);
  MOE_CHECK(d, "config value train.device = '", excerpt(device),
            "' is not one of: ", device_names());
  return *d;
}

void DataConfig::validate() const {
  check_one_of("data.source", source, {"shakespeare", "text", "synthetic", "prepared"});
  MOE_CHECK(source != "prepared" || !dir.empty(),
            "config: data.dir is required for data.source = prepared (moe train --data DIR)");
  check_one_of("data.sampling", sampling, {"random", "chunks"});
  MOE_CHECK(train_fraction > 0.0f && train_fraction < 1.0f,
            "config value data.train_fraction = ", train_fraction, " must be in (0, 1)");
  MOE_CHECK(source != "text" || !path.empty(),
            "config: data.path is required for data.source = text");
  check_range<int64_t>("data.synthetic_tokens", synthetic_tokens, 2, int64_t{1} << 40);
}

void DistConfig::validate() const {
  MOE_CHECK(zero == 0 || zero == 1, "config value dist.zero = ", zero,
            " must be 0 (every process holds the optimizer state) or 1 (the optimizer moments are "
            "sharded across the processes); ZeRO stages 2 and 3 are not implemented");
  MOE_CHECK(bucket_mib >= 0.0f && bucket_mib <= 1024.0f,
            "config value dist.bucket_mib = ", bucket_mib,
            " must be in [0, 1024] (MiB of gradients per bucket summed during the backward pass; "
            "0 sums them after it)");
  // Whether it divides the processes and the experts is known only with the job
  // (check_expert_parallel, train/expert_parallel.h).
  MOE_CHECK(expert_parallel >= 1, "config value dist.expert_parallel = ", expert_parallel,
            " must be at least 1 (the processes that share each MoE layer's experts)");
  MOE_CHECK(expert_parallel == 1 || zero == 0, "dist.expert_parallel = ", expert_parallel,
            " and dist.zero = 1 cannot be combined yet: ZeRO-1 shards the moments of a whole "
            "parameter table; set dist.zero = 0 to train expert parallel");
}

void RunConfig::set(const std::string& key, const std::string& value) {
  find_field(key).set(*this, value);
}

void RunConfig::set_assignment(const std::string& assignment) {
  auto eq = assignment.find('=');
  MOE_CHECK(eq != std::string::npos && eq > 0, "--set expects key=value, got '", assignment, "'");
  set(assignment.substr(0, eq), assignment.substr(eq + 1));
}

void RunConfig::validate() const {
  model.validate();
  train.validate();
  data.validate();
  dist.validate();
}

void RunConfig::load_toml(const std::string& path) {
  load_toml_text(read_file(path), path);
}

void RunConfig::load_toml_text(std::string_view toml_text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    fail("config file ", source, ": ", e.description(), " at line ", e.source().begin.line);
  }
  size_t keys_set = 0;
  for (auto&& [section, node] : root) {
    const toml::table* table = node.as_table();
    MOE_CHECK(table != nullptr, "config file ", source, ": top-level key '", excerpt(section.str()),
              "' must be a table ([model], [train], [data] or [dist])");
    for (auto&& [key, value] : *table) {
      std::string name = std::string(section.str()) + "." + std::string(key.str());
      std::string text;
      if (auto s = value.value<std::string>()) {
        text = *s;
      } else if (auto b = value.as_boolean()) {
        text = b->get() ? "true" : "false";
      } else if (auto i = value.as_integer()) {
        text = std::to_string(i->get());
      } else if (auto fl = value.as_floating_point()) {
        std::ostringstream os;
        os.precision(9);
        os << fl->get();
        text = os.str();
      } else {
        fail("config file ", source, ": value of ", excerpt(name),
             " must be a string, a number or a boolean");
      }
      // Qualified names only in files, so a typo in a section is caught.
      bool known = false;
      for (const Field& f : fields())
        known = known || f.name == name;
      MOE_CHECK(known, "config file ", source, ": unknown config key '", excerpt(name), "'");
      set(name, text);
      ++keys_set;
    }
  }
  // An empty file would otherwise train the defaults without a word.
  MOE_CHECK(keys_set > 0, "config file ", source,
            " sets nothing: it needs [model], [train], [data] or [dist] tables with keys");
}

nlohmann::json RunConfig::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const Field& f : fields()) {
    auto dot = f.name.find('.');
    j[f.name.substr(0, dot)][f.name.substr(dot + 1)] = f.get(*this);
  }
  return j;
}

void RunConfig::from_json(const nlohmann::json& j) {
  for (auto& [section, table] : j.items()) {
    MOE_CHECK(table.is_object(), "config section '", excerpt(section), "' must be an object");
    for (auto& [key, value] : table.items()) {
      std::string name = section + "." + key;
      std::string text;
      if (value.is_string()) {
        text = value.get<std::string>();
      } else if (value.is_number_unsigned()) {  // above INT64_MAX: parse_int names it
        text = std::to_string(value.get<uint64_t>());
      } else if (value.is_boolean()) {
        text = value.get<bool>() ? "true" : "false";
      } else if (value.is_number_integer()) {
        text = std::to_string(value.get<int64_t>());
      } else if (value.is_number()) {
        std::ostringstream os;
        os.precision(9);
        os << value.get<double>();
        text = os.str();
      } else {
        fail("config key '", excerpt(name), "' must be a string, a number or a boolean");
      }
      find_field(name).set(*this, text);
    }
  }
}

nlohmann::json model_config_json(const ModelConfig& m) {
  RunConfig r;
  r.model = m;
  return r.to_json()["model"];
}

std::optional<SettingDifference> first_model_difference(const ModelConfig& a,
                                                        const ModelConfig& b) {
  RunConfig ra, rb;
  ra.model = a;
  rb.model = b;
  for (const Field& f : fields()) {
    if (f.name.rfind("model.", 0) != 0) continue;
    nlohmann::json va = f.get(ra), vb = f.get(rb);
    if (va != vb) return SettingDifference{f.name, std::move(va), std::move(vb)};
  }
  return std::nullopt;
}

ModelConfig model_config_from_json(const nlohmann::json& j) {
  RunConfig r;
  r.from_json(nlohmann::json{{"model", j}});
  r.model.validate();
  return r.model;
}

std::vector<std::string> RunConfig::preset_names() {
  return {"makemoe", "makemoe-fine", "llama-moe-tiny", "wikitext-moe"};
}

RunConfig RunConfig::preset(const std::string& name) {
  RunConfig c;
  if (name == "makemoe") {
    // The makeMoE tutorial (AviSoori1x/makeMoE): character-level Tiny Shakespeare, 8.99 M params,
    // constant lr 1e-3 AdamW (PyTorch's default weight decay 0.01), no clipping. Its heads scale
    // q.k by C**-0.5 with C = n_embed (Head.forward), not by head_size**-0.5, and its
    // torch.optim.AdamW(model.parameters()) decays every parameter, biases and LayerNorms too.
    // Its dropout after the MoE acts inside each Expert, before the gate weighs the output.
    c.model = ModelConfig{};
    c.model.attention_scale = 1.0f / std::sqrt(static_cast<float>(c.model.n_embed));
    c.train.weight_decay_params = "all";
    c.model.expert_dropout = true;
    c.train.batch_size = 16;
    c.train.steps = 5000;
    c.train.lr = 1e-3f;
    c.train.min_lr = 1e-3f;
    c.train.lr_schedule = "constant";
    c.train.eval_every = 500;
    c.train.eval_iters = 50;
    return c;
  }
  if (name == "makemoe-fine") {
    // makemoe with DeepSeekMoE's fine-grained and shared experts (Dai et al. 2024, §3.1-3.2):
    // each of the 8 experts of hidden 512 is split into m = 4 experts of hidden 128 and top-k is
    // multiplied by m (2 -> 8 of 32); K_s = 1 of the 32 is isolated as an always-on shared expert,
    // leaving 31 routed experts of which a token picks 7. Expert weights per token are makemoe's
    // (8 x 128 = 2 x 512 hidden units); only the router (31 instead of 8 outputs) and the experts'
    // output biases add active parameters.
    c = preset("makemoe");
    c.model.expert_hidden = 128;
    c.model.n_experts = 31;
    c.model.top_k = 7;
    c.model.n_shared_experts = 1;
    return c;
  }
  if (name == "llama-moe-tiny") {
    ModelConfig& m = c.model;
    m.arch = "llama";
    m.n_embed = 128;
    m.n_heads = 4;
    m.n_kv_heads = 2;
    m.n_layers = 4;
    m.block_size = 64;
    m.ffn_hidden = 384;
    m.n_experts = 8;
    m.top_k = 2;
    m.router = "topk";
    m.aux_loss_coef = 0.01f;
    m.z_loss_coef = 0.001f;
    m.dropout = 0.0f;
    m.init = "normal";
    c.train.batch_size = 32;
    c.train.steps = 2000;
    c.train.lr = 3e-3f;
    c.train.min_lr = 3e-4f;
    c.train.warmup_steps = 100;
    c.train.weight_decay = 0.1f;
    c.train.beta2 = 0.95f;
    c.train.grad_clip = 1.0f;
    c.train.eval_every = 250;
    c.train.eval_iters = 20;
    return c;
  }
  if (name == "wikitext-moe") {
    // Llama-style MoE (mission §3) on WikiText prepared with the GPT-2 tokenizer
    // (moe prepare --dataset wikitext --tokenizer gpt2); the vocabulary size comes from the
    // prepared directory. Small enough for a few hundred steps on 2 cores in minutes.
    c = preset("llama-moe-tiny");
    c.model.block_size = 128;
    c.train.batch_size = 4;  // 512 tokens a step: the 50,257-token LM head dominates the cost
    c.train.steps = 300;
    c.train.warmup_steps = 30;
    c.train.eval_every = 100;
    c.train.eval_iters = 10;
    c.train.ckpt_every = 100;
    c.data.source = "prepared";
    c.data.sampling = "chunks";
    return c;
  }
  std::string names;
  for (auto& n : preset_names())
    names += (names.empty() ? "" : ", ") + n;
  fail("unknown preset '", name, "' (available: ", names, ")");
}

}  // namespace moe
