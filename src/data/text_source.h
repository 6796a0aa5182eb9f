// A text corpus read from disk and split into training and validation tokens.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moe {

// The file's bytes; a missing or empty file is an error.
std::string read_text_corpus(const std::string& path);

struct TokenSplits {
  std::vector<int32_t> train, val;
};

// Splits by position: the first floor(n * train_fraction) tokens train, the rest validate (as
// nanoGPT's shakespeare_char prepare.py and makeMoE do with 0.9). train_fraction is in (0, 1].
TokenSplits split_tokens(std::vector<int32_t> tokens, double train_fraction = 0.9);

}  // namespace moe
