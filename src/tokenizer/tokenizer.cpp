#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/data_files.h"
#include "core/fs.h"
#include "core/json.h"
#include "tokenizer/byte_bpe.h"
#include "tokenizer/char_tokenizer.h"

namespace moe {
namespace {

std::unique_ptr<Tokenizer> load_bpe(const std::string& dir, const std::string& path,
                                    const nlohmann::json& j) {
  std::unique_ptr<BpeTokenizer> tok = BpeTokenizer::load_dir(dir);
  if (j.contains("vocab_size"))
    MOE_CHECK(j["vocab_size"] == tok->vocab_size(), "tokenizer file ", path, " says vocab_size ",
              json_excerpt(j["vocab_size"]), " but encoder.json beside it has ", tok->vocab_size(),
              " tokens");
  return tok;
}

}  // namespace

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  return parse_tokenizer(read_file(dir + "/tokenizer.json"), dir);
}

std::unique_ptr<Tokenizer> parse_tokenizer(std::string_view tokenizer_json,
                                           const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  const nlohmann::json j = parse_json(tokenizer_json, "tokenizer file " + path);
  MOE_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), "tokenizer file ", path,
            " has no string \"type\" field");
  const std::string type = j["type"].get<std::string>();
  if (type == "char") return std::make_unique<CharTokenizer>(CharTokenizer::from_json(j, path));
  if (type == "bpe") return load_bpe(dir, path, j);
  fail("tokenizer file ", path, " has unknown type \"", excerpt(type), "\" (known: char, bpe)");
}

std::unique_ptr<Tokenizer> open_tokenizer(const std::string& spec) {
  const std::string char_prefix = "char:", bpe_prefix = "bpe:";
  if (spec.starts_with(char_prefix)) {
    std::unique_ptr<Tokenizer> tok = load_tokenizer(spec.substr(char_prefix.size()));
    MOE_CHECK(tok->type() == "char", "tokenizer ", spec, " is of type ", tok->type(), ", not char");
    return tok;
  }
  if (spec == "gpt2")
    return BpeTokenizer::load_dir(
        find_data_file("gpt2", "the GPT-2 tokenizer files (encoder.json, vocab.bpe)",
                       "set MOE_DATA_DIR to the data directory that holds gpt2/"));
  if (spec.starts_with(bpe_prefix)) return BpeTokenizer::load_dir(spec.substr(bpe_prefix.size()));
  fail("unknown tokenizer \"", spec, "\" (known: char:DIR, gpt2, bpe:DIR)");
}

}  // namespace moe
