// Shared by the BPE tests: hand-made vocabularies (and, through unit/scratch.h, scratch
// directories and error messages).
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "tokenizer/byte_bpe.h"
#include "tokenizer/bytes_to_unicode.h"
#include "unit/scratch.h"

namespace moe::testing {

// The 256 bytes in GPT-2's order, one token per merge (given as byte strings), then `specials`.
inline BpeVocab toy_vocab(const std::vector<std::pair<std::string, std::string>>& merges,
                          const std::vector<std::string>& specials = {}) {
  BpeVocab vocab;
  std::map<std::string, int32_t> id;
  for (uint8_t b : byte_id_order()) {
    id[std::string(1, static_cast<char>(b))] = static_cast<int32_t>(vocab.tokens.size());
    vocab.tokens.emplace_back(1, static_cast<char>(b));
  }
  for (const auto& [left, right] : merges) {
    vocab.merges.emplace_back(id.at(left), id.at(right));
    id[left + right] = static_cast<int32_t>(vocab.tokens.size());
    vocab.tokens.push_back(left + right);
  }
  for (const std::string& s : specials)
    vocab.tokens.push_back(s);
  return vocab;
}

// The id of a token given by its bytes.
inline int32_t token_id(const BpeVocab& vocab, const std::string& bytes) {
  for (size_t i = 0; i < vocab.tokens.size(); ++i)
    if (vocab.tokens[i] == bytes) return static_cast<int32_t>(i);
  ADD_FAILURE() << "no token " << bytes;
  return -1;
}

}  // namespace moe::testing
