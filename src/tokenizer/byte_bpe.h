// Byte-level BPE as in GPT-2 and OpenAI's tiktoken: the text is pre-tokenised (pretokenizer.h),
// each piece is turned into bytes, and adjacent parts are merged, lowest rank first (leftmost on
// ties), while the concatenation of two adjacent parts is a token of the vocabulary; a piece that
// is itself a token is encoded as that token directly. These are tiktoken's rules
// (openai/tiktoken src/lib.rs, byte_pair_encode): ranks belong to byte strings, not to the
// particular pair that created them. Special tokens are recognised anywhere in the text.
//
// Files (GPT-2's format, so other tools can read them): encoder.json maps each token, written
// with bytes_to_unicode.h's characters, to its id; vocab.bpe is "#version: 0.2" and then one
// merge "LEFT RIGHT" per line, in rank order. Every token is one of the 256 bytes, the result of
// exactly one merge, or a special token written <|name|> (printable ASCII, e.g. <|endoftext|>).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace moe {

// True for <|name|> with printable ASCII other than space in the name: the form of special
// tokens (tiktoken's convention, e.g. <|endoftext|>).
bool is_special_token_form(std::string_view text);

struct BpeVocab {
  std::vector<std::string> tokens;                  // the bytes of each token, by id
  std::vector<std::pair<int32_t, int32_t>> merges;  // (left id, right id), rank order
};

class BpeTokenizer : public Tokenizer {
 public:
  // Checks that the vocabulary is consistent (see above) and indexes it.
  explicit BpeTokenizer(BpeVocab vocab);
  BpeTokenizer(const BpeTokenizer&) = delete;
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;

  // Reads encoder.json and vocab.bpe.
  static std::unique_ptr<BpeTokenizer> load(const std::string& encoder_json_path,
                                            const std::string& vocab_bpe_path);
  // The same from the two files' texts held in memory; the paths name them in messages.
  static std::unique_ptr<BpeTokenizer> parse(std::string_view encoder_json,
                                             std::string_view vocab_bpe,
                                             const std::string& encoder_json_path,
                                             const std::string& vocab_bpe_path);
  // DIR/encoder.json + DIR/vocab.bpe.
  static std::unique_ptr<BpeTokenizer> load_dir(const std::string& dir);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(vocab_.tokens.size()); }
  std::optional<int32_t> eot_id() const override { return eot_id_; }
  std::string type() const override { return "bpe"; }
  // Writes DIR/encoder.json, DIR/vocab.bpe and DIR/tokenizer.json {"type": "bpe", ...}.
  void save(const std::string& dir) const override;
  // The texts of encoder.json and vocab.bpe (also Hugging Face's vocab.json and merges.txt).
  std::string encoder_json() const;
  std::string vocab_bpe() const;
  // A token as the files write it: a special token as itself, the others through the byte map.
  std::string written_token(int32_t id) const;

  const BpeVocab& vocab() const { return vocab_; }
  // The special tokens' texts; special_ids()[i] is the id of special_tokens()[i].
  const std::vector<std::string>& special_tokens() const { return pretokenizer_->special_tokens(); }
  const std::vector<int32_t>& special_ids() const { return special_ids_; }

 private:
  // Merge table entry for an adjacent pair: (rank << 32) | merged id; kNoMerge when the pair's
  // concatenation is not a token.
  static constexpr uint64_t kNoMerge = ~uint64_t{0};
  uint64_t pair_merge(int32_t left, int32_t right) const;
  // Appends the ids of one ordinary piece.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out,
                    std::vector<uint64_t>& merge_scratch) const;
  void encode_long_piece(std::string_view piece, std::vector<int32_t>& out) const;

  BpeVocab vocab_;
  std::vector<int32_t> special_ids_;
  std::optional<int32_t> eot_id_;
  std::unique_ptr<Pretokenizer> pretokenizer_;
  int32_t byte_ids_[256];                                    // the token of each single byte
  std::unordered_map<std::string_view, int32_t> token_ids_;  // ordinary tokens (views into vocab_)
  // Open-addressing table (linear probing) of the pairs whose concatenation is a token:
  // key (left << 32) | right, value as pair_merge() returns it. Size a power of two.
  std::vector<std::pair<uint64_t, uint64_t>> pair_table_;
  int pair_table_shift_ = 64;
};

}  // namespace moe
