// Learning a byte-level BPE vocabulary from a corpus (Sennrich et al. 2016, "Neural Machine
// Translation of Rare Words with Subword Units", on bytes as in GPT-2): the corpus is
// pre-tokenised exactly as for encoding (pretokenizer.h; special tokens are cut out and never
// split or merged into), and the most frequent adjacent pair of tokens within a piece is merged
// into a new token until the vocabulary has the requested size.
//
// Deterministic: the pair with the highest count wins; a tie goes to the pair whose left token's
// bytes are smallest, then whose right token's bytes are smallest (bytes compared as unsigned,
// shorter prefix first). Training stops early when no pair occurs twice.
//
// Ids: the 256 bytes in GPT-2's order (bytes_to_unicode.h), then one token per merge in merge
// order, then the special tokens, so a token's rank is its merge order as in GPT-2's files.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/byte_bpe.h"

namespace moe {

struct BpeTrainingOptions {
  int32_t vocab_size = 10000;  // bytes + merges + special tokens
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
};

struct BpeTrainingStats {
  int64_t input_bytes = 0;  // all texts, special tokens included
  int64_t pieces = 0;       // pre-tokenised pieces (special tokens not counted)
  int64_t unique_pieces = 0;
  int64_t merges = 0;
};

// Counts are gathered from all texts; no piece spans two texts.
BpeVocab train_bpe(const std::vector<std::string_view>& texts, const BpeTrainingOptions& options,
                   BpeTrainingStats* stats = nullptr);

}  // namespace moe
