#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/fs.h"
#include "tokenizer/char_tokenizer.h"

namespace moe {

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    fail("tokenizer file ", path, " is not valid JSON (", e.what(), ")");
  }
  MOE_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), "tokenizer file ", path,
            " has no string \"type\" field");
  const std::string type = j["type"].get<std::string>();
  if (type == "char") return std::make_unique<CharTokenizer>(CharTokenizer::load(path));
  fail("tokenizer file ", path, " has unknown type \"", type, "\" (known: char)");
}

std::unique_ptr<Tokenizer> open_tokenizer(const std::string& spec) {
  const std::string char_prefix = "char:";
  if (spec.starts_with(char_prefix)) {
    std::unique_ptr<Tokenizer> tok = load_tokenizer(spec.substr(char_prefix.size()));
    MOE_CHECK(tok->type() == "char", "tokenizer ", spec, " is of type ", tok->type(), ", not char");
    return tok;
  }
  fail("unknown tokenizer \"", spec, "\" (known: char:DIR)");
}

}  // namespace moe
