#include "interop/hf_tokenizer.h"

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/fs.h"
#include "core/json.h"

namespace moe {
namespace {

constexpr const char* kVocabHeader = "#version: 0.2";

// Settings of `tokenizers`' ByteLevel pieces as GPT-2's tokenizer.json has them.
nlohmann::ordered_json byte_level(bool add_prefix_space, bool trim_offsets) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", add_prefix_space},
          {"trim_offsets", trim_offsets},
          {"use_regex", true}};
}

nlohmann::ordered_json added_token(int32_t id, const std::string& text) {
  return {{"id", id},        {"content", text},     {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

std::string tokenizer_json_text(const BpeTokenizer& tok) {
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (size_t i = 0; i < tok.special_ids().size(); ++i)
    added.push_back(added_token(tok.special_ids()[i], tok.special_tokens()[i]));
  nlohmann::ordered_json head = {{"version", "1.0"},
                                 {"truncation", nullptr},
                                 {"padding", nullptr},
                                 {"added_tokens", added},
                                 {"normalizer", nullptr},
                                 {"pre_tokenizer", byte_level(false, true)},
                                 {"post_processor", byte_level(true, false)},
                                 {"decoder", byte_level(true, true)}};
  nlohmann::ordered_json model = {{"type", "BPE"},
                                  {"dropout", nullptr},
                                  {"unk_token", nullptr},
                                  {"continuing_subword_prefix", ""},
                                  {"end_of_word_suffix", ""},
                                  {"fuse_unk", false},
                                  {"byte_fallback", false},
                                  {"ignore_merges", true}};
  // The vocabulary and merges are spliced in as text: an ordered JSON object of 50,000 keys
  // would be built by linear look-ups.
  std::string merges = "[";
  for (const auto& [left, right] : tok.vocab().merges) {
    if (merges.size() > 1) merges += ", ";
    merges += nlohmann::json(tok.written_token(left) + " " + tok.written_token(right)).dump();
  }
  merges += "]";
  std::string model_text = model.dump();
  model_text.pop_back();  // the closing brace
  model_text += ", \"vocab\": " + tok.encoder_json() + ", \"merges\": " + merges + "}";
  std::string text = head.dump();
  text.pop_back();
  return text + ", \"model\": " + model_text + "}\n";
}

nlohmann::ordered_json tokenizer_config(const BpeTokenizer& tok, int64_t max_length) {
  nlohmann::ordered_json decoder = nlohmann::ordered_json::object();
  for (size_t i = 0; i < tok.special_ids().size(); ++i) {
    nlohmann::ordered_json entry = added_token(tok.special_ids()[i], tok.special_tokens()[i]);
    entry.erase("id");
    decoder[std::to_string(tok.special_ids()[i])] = entry;
  }
  nlohmann::ordered_json j = {{"tokenizer_class", "GPT2Tokenizer"},
                              {"model_max_length", max_length},
                              {"add_prefix_space", false},
                              {"clean_up_tokenization_spaces", false},
                              {"added_tokens_decoder", decoder}};
  if (tok.eot_id()) {
    const std::string eot = tok.vocab().tokens[*tok.eot_id()];
    j["bos_token"] = eot;
    j["eos_token"] = eot;
    j["unk_token"] = eot;
  }
  return j;
}

// `value` must be a ByteLevel piece (or, where `may_be_null`, absent).
void check_byte_level(const nlohmann::json& j, const char* key, const std::string& source) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    MOE_CHECK(std::string_view(key) != "pre_tokenizer", source,
              ": has no pre_tokenizer; only byte-level BPE (pre_tokenizer ByteLevel) is supported");
    return;
  }
  const std::string type = json_value_or<std::string>(*it, "type", "", source + " " + key);
  MOE_CHECK(type == "ByteLevel", source, ": ", key, " type ", excerpt(type),
            " is not supported (only ByteLevel: GPT-2-style byte-level BPE)");
  if (std::string_view(key) == "pre_tokenizer") {
    MOE_CHECK(!it->value("add_prefix_space", false), source,
              ": pre_tokenizer add_prefix_space = true is not supported");
    MOE_CHECK(it->value("use_regex", true), source,
              ": pre_tokenizer use_regex = false is not supported (GPT-2's pattern splits pieces)");
  }
}

// vocab.json and merges.txt texts from tokenizer.json's BPE model and added tokens.
std::unique_ptr<BpeTokenizer> from_tokenizer_json(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  const std::string source = "tokenizer file " + path;
  MOE_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), source,
            " has no \"model\" object");
  const nlohmann::json& model = j["model"];
  const std::string type = json_value_or<std::string>(model, "type", "", source + " model");
  MOE_CHECK(type == "BPE", source, ": model type ", excerpt(type),
            " is not supported (only byte-level BPE)");
  MOE_CHECK(!j.contains("normalizer") || j["normalizer"].is_null(), source,
            ": a normalizer is not supported (byte-level BPE reads the text unchanged)");
  check_byte_level(j, "pre_tokenizer", source);
  check_byte_level(j, "decoder", source);
  MOE_CHECK(!model.value("byte_fallback", false), source, ": byte_fallback is not supported");
  MOE_CHECK(model.contains("vocab") && model["vocab"].is_object(), source,
            ": model has no \"vocab\" object");
  MOE_CHECK(model.contains("merges") && model["merges"].is_array(), source,
            ": model has no \"merges\" list");
  nlohmann::json vocab = model["vocab"];
  if (j.contains("added_tokens")) {
    MOE_CHECK(j["added_tokens"].is_array(), source, ": \"added_tokens\" is not a list");
    for (const nlohmann::json& t : j["added_tokens"]) {
      const std::string content = json_value_or<std::string>(t, "content", "", source);
      const int64_t id = json_value_or<int64_t>(t, "id", -1, source);
      MOE_CHECK(is_special_token_form(content), source, ": added token ", excerpt(content),
                " is not supported (only special tokens written <|name|>)");
      MOE_CHECK(!vocab.contains(content) || vocab[content] == id, source, ": added token ", content,
                " has id ", id, " but the vocabulary gives it ", json_excerpt(vocab[content]));
      vocab[content] = id;
    }
  }
  std::string merges = std::string(kVocabHeader) + "\n";
  for (const nlohmann::json& m : model["merges"]) {
    if (m.is_string()) {
      merges += m.get<std::string>();
    } else {
      MOE_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), source,
                ": a merge is neither \"LEFT RIGHT\" nor [LEFT, RIGHT]: ", json_excerpt(m));
      merges += m[0].get<std::string>() + " " + m[1].get<std::string>();
    }
    merges += "\n";
  }
  return BpeTokenizer::parse(vocab.dump(), merges, path + " (vocab)", path + " (merges)");
}

}  // namespace

void write_hf_tokenizer(const std::string& dir, const BpeTokenizer& tokenizer, int64_t max_length) {
  write_file_atomic(dir + "/vocab.json", tokenizer.encoder_json());
  write_file_atomic(dir + "/merges.txt", tokenizer.vocab_bpe());
  write_file_atomic(dir + "/tokenizer.json", tokenizer_json_text(tokenizer));
  write_file_atomic(dir + "/tokenizer_config.json",
                    tokenizer_config(tokenizer, max_length).dump(2) + "\n");
}

std::unique_ptr<BpeTokenizer> read_hf_tokenizer(const std::string& dir) {
  if (file_exists(dir + "/tokenizer.json")) return from_tokenizer_json(dir + "/tokenizer.json");
  const std::string vocab = dir + "/vocab.json", merges = dir + "/merges.txt";
  MOE_CHECK(file_exists(vocab) && file_exists(merges), "Hugging Face folder ", dir,
            " has no tokenizer (expected tokenizer.json, or vocab.json and merges.txt)");
  std::string merges_text = read_file(merges);
  // Some merges.txt files leave out GPT-2's version line.
  if (!merges_text.starts_with("#version"))
    merges_text = std::string(kVocabHeader) + "\n" + merges_text;
  return BpeTokenizer::parse(read_file(vocab), merges_text, vocab, merges);
}

}  // namespace moe
