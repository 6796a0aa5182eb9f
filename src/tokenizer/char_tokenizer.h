// A character-level tokenizer: one token per Unicode code point of the training corpus, numbered
// in code point order (as nanoGPT's shakespeare_char and makeMoE do: sorted(set(text))).
#pragma once
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/tokenizer.h"

namespace moe {

class CharTokenizer : public Tokenizer {
 public:
  // The vocabulary is the sorted set of code points in the UTF-8 corpus.
  static CharTokenizer build(std::string_view corpus);
  // Reads a tokenizer.json written by save(): {"type": "char", "chars": "<the vocabulary>"}.
  static CharTokenizer load(const std::string& path_to_json);
  // The same from the file's parsed JSON; `path` names the file in messages.
  static CharTokenizer from_json(const nlohmann::json& j, const std::string& path);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(chars_.size()); }
  std::string type() const override { return "char"; }
  void save(const std::string& dir) const override;

  // The code points, in id order.
  const std::vector<char32_t>& chars() const { return chars_; }

 private:
  explicit CharTokenizer(std::vector<char32_t> chars);
  int32_t lookup(char32_t c) const;
  // The error for `text` holding characters outside the vocabulary: it lists them all (a corpus
  // that changed since a run started usually gained several) and where the first one is.
  [[noreturn]] void fail_unknown_chars(std::string_view text, size_t first_at) const;

  std::vector<char32_t> chars_;
  // Direct ids for code points below 128 (-1 = absent), the common case; others use a search.
  std::array<int32_t, 128> ascii_ids_;
};

}  // namespace moe
