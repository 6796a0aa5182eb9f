#include "report/run_log.h"

#include <filesystem>
#include <sstream>

#include "core/check.h"
#include "core/fs.h"
#include "core/json.h"

namespace moe {

namespace {

// A required field of a record; `where` is "FILE line N".
double number(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  MOE_CHECK(it != j.end() && it->is_number(), where, ": record lacks the number '", key, "'");
  return it->get<double>();
}

int64_t integer(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  MOE_CHECK(it != j.end() && it->is_number_integer(), where, ": record lacks the integer '", key,
            "'");
  return it->get<int64_t>();
}

// A list of numbers under `key` of `j`, not empty.
std::vector<double> numbers(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  MOE_CHECK(it != j.end() && it->is_array() && !it->empty(), where, ": record lacks the list '",
            key, "'");
  std::vector<double> out;
  for (const nlohmann::json& v : *it) {
    MOE_CHECK(v.is_number(), where, ": '", key, "' holds a non-number");
    out.push_back(v.get<double>());
  }
  return out;
}

std::vector<LayerLoad> parse_expert_load(const nlohmann::json& list, const std::string& where) {
  MOE_CHECK(list.is_array(), where, ": 'expert_load' is not a list");
  std::vector<LayerLoad> out;
  for (const nlohmann::json& l : list) {
    MOE_CHECK(l.is_object(), where, ": 'expert_load' holds a non-object");
    out.push_back({integer(l, "layer", where), numbers(l, "fractions", where)});
  }
  return out;
}

// [expert][i] = [text, count].
std::vector<std::vector<std::pair<std::string, int64_t>>> parse_top_tokens(
    const nlohmann::json& list, const std::string& where) {
  const char* bad = ": 'top_tokens' is not a list of [text, count] lists per expert";
  MOE_CHECK(list.is_array(), where, bad);
  std::vector<std::vector<std::pair<std::string, int64_t>>> out;
  for (const nlohmann::json& expert : list) {
    MOE_CHECK(expert.is_array(), where, bad);
    auto& tokens = out.emplace_back();
    for (const nlohmann::json& t : expert) {
      MOE_CHECK(t.is_array() && t.size() == 2 && t[0].is_string() && t[1].is_number_integer(),
                where, bad);
      tokens.emplace_back(t[0].get<std::string>(), t[1].get<int64_t>());
    }
  }
  return out;
}

StepRecord parse_step(const nlohmann::json& j, const std::string& where) {
  StepRecord s;
  s.step = integer(j, "step", where);
  s.loss = number(j, "loss", where);
  s.aux_loss = number(j, "aux_loss", where);
  s.z_loss = number(j, "z_loss", where);
  if (j.contains("seq_aux_loss")) s.seq_aux_loss = number(j, "seq_aux_loss", where);
  s.lr = number(j, "lr", where);
  s.grad_norm = number(j, "grad_norm", where);
  s.tokens_per_s = number(j, "tokens_per_s", where);
  s.forward_ms = number(j, "forward_ms", where);
  s.backward_ms = number(j, "backward_ms", where);
  s.optimizer_ms = number(j, "optimizer_ms", where);
  if (auto load = j.find("expert_load"); load != j.end())
    s.expert_load = parse_expert_load(*load, where);
  return s;
}

EvalRecord parse_eval(const nlohmann::json& j, const std::string& where) {
  EvalRecord e;
  e.step = integer(j, "step", where);
  e.train_loss = number(j, "train_loss", where);
  e.val_loss = number(j, "val_loss", where);
  auto layers = j.find("moe");
  MOE_CHECK(layers != j.end() && layers->is_array(), where, ": eval record lacks the 'moe' list");
  for (const nlohmann::json& l : *layers) {
    LayerRoutingRecord r;
    r.layer = integer(l, "layer", where);
    r.entropy = number(l, "entropy", where);
    r.max_entropy = number(l, "max_entropy", where);
    r.dropped_fraction = number(l, "dropped_fraction", where);
    if (auto top = l.find("top_tokens"); top != l.end())
      r.top_tokens = parse_top_tokens(*top, where);
    auto usage = l.find("expert_usage");
    MOE_CHECK(usage != l.end() && usage->is_array() && !usage->empty(), where,
              ": layer record lacks 'expert_usage'");
    for (const nlohmann::json& u : *usage) {
      MOE_CHECK(u.is_number(), where, ": expert_usage holds a non-number");
      r.expert_usage.push_back(u.get<double>());
    }
    e.moe.push_back(std::move(r));
  }
  return e;
}

}  // namespace

bool RunLog::is_moe() const {
  for (const EvalRecord& e : evals)
    if (!e.moe.empty()) return true;
  return false;
}

// Each factor is checked before any arithmetic: a log can come from anywhere, and a float or a
// huge number must not reach an integer conversion or overflow the product.
int64_t RunLog::tokens_per_step() const {
  constexpr int64_t kMaxFactor = int64_t{1} << 20;
  const auto factor = [&](const char* section, const char* key) {
    const auto s = config.find(section);
    MOE_CHECK(s != config.end() && s->is_object(), "the start record's config lacks ", section);
    const int64_t v =
        json_value_or<int64_t>(*s, key, 0, std::string("the start record's config.") + section);
    MOE_CHECK(v >= 1 && v <= kMaxFactor, "the start record's config has ", section, ".", key, " = ",
              v, ", not a count in [1, ", kMaxFactor, "]");
    return v;
  };
  return factor("train", "batch_size") * factor("model", "block_size") *
         factor("train", "grad_accum");
}

RunLog parse_run_log(const std::string& text, const std::string& source, const std::string& name) {
  RunLog log;
  log.name = name;
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  bool have_start = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = str_cat(source, " line ", i + 1);
    nlohmann::json j;
    try {
      j = parse_json(lines[i], where);
    } catch (const Error&) {
      // Only the last line can be torn: the trainer flushes whole lines.
      if (i + 1 < lines.size()) throw;
      log.torn_last_line = true;
      break;
    }
    MOE_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), where,
              ": record has no 'type'");
    const std::string type = j["type"];
    if (type == "start") {
      have_start = true;
      log.params = integer(j, "params", where);
      log.active_params = integer(j, "active_params", where);
      log.flops_per_token = number(j, "flops_per_token", where);
      log.data = json_value_or<std::string>(j, "data", "", where);
      log.non_causal_reason = json_value_or<std::string>(j, "non_causal_reason", "", where);
      MOE_CHECK(j.contains("config") && j["config"].is_object(), where,
                ": start record lacks 'config'");
      log.config = j["config"];
    } else if (type == "step") {
      log.steps.push_back(parse_step(j, where));
    } else if (type == "eval") {
      log.evals.push_back(parse_eval(j, where));
    }
  }
  MOE_CHECK(have_start, source, " has no start record (is it a moe train metrics log?)");
  try {
    log.tokens_per_step();
  } catch (const Error& e) {
    fail(source, ": ", e.what());
  }
  return log;
}

RunLog read_run_log(const std::string& run_dir) {
  MOE_CHECK(std::filesystem::is_directory(run_dir), "run directory ", run_dir, " does not exist");
  const std::string path = run_dir + "/metrics.jsonl";
  MOE_CHECK(file_exists(path), "no metrics.jsonl in ", run_dir,
            " (not a moe train run directory?)");
  std::string name = std::filesystem::path(run_dir).lexically_normal().filename().string();
  if (name.empty())
    name = std::filesystem::path(run_dir).lexically_normal().parent_path().filename().string();
  return parse_run_log(read_file(path), path, name);
}

}  // namespace moe
