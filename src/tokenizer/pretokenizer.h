// GPT-2 pre-tokenisation: the text is first cut at special tokens (e.g. "<|endoftext|>"), then
// each stretch between them is split by GPT-2's pattern (tiktoken's "gpt2" pat_str,
// openai/tiktoken tiktoken_ext/openai_public.py):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// BPE merges never cross the pieces. Matching uses PCRE2 (UTF, UCP, JIT); \s is spelled out as
// Unicode's White_Space property, which is what tiktoken's Rust regex engine means by \s.
// Bytes that are not valid UTF-8 match no part of the pattern: each maximal run of them becomes
// a piece of its own, so every byte of the text lands in exactly one piece.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace moe {

class Pretokenizer {
 public:
  // special_tokens: strings recognised anywhere in the text (leftmost first; at one position the
  // longest wins) and returned as pieces of their own.
  explicit Pretokenizer(std::vector<std::string> special_tokens);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  struct Piece {
    std::string_view text;  // a view into the text being split
    int special = -1;       // index into special_tokens(), or -1 for an ordinary piece
  };

  // Walks the pieces of one text in order. Holds its own match buffer, so several cursors (one
  // per thread) may share a Pretokenizer.
  class Cursor {
   public:
    Cursor(const Pretokenizer& owner, std::string_view text);
    ~Cursor();
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;
    // The next piece; false at the end of the text.
    bool next(Piece& piece);

   private:
    void find_next_special();
    static constexpr size_t kNotSearched = ~size_t{0};

    const Pretokenizer& owner_;
    std::string_view text_;
    size_t pos_ = 0;
    size_t special_at_;  // start of the next special token, or text_.size() when none is left
    int special_ = -1;   // which special token starts at special_at_
    std::vector<size_t> next_at_;  // per special token: its next occurrence at or after pos_
    void* match_data_;             // pcre2_match_data_8*
  };

  Cursor pieces(std::string_view text) const { return Cursor(*this, text); }
  const std::vector<std::string>& special_tokens() const { return special_tokens_; }

 private:
  std::vector<std::string> special_tokens_;
  void* code_;  // pcre2_code_8*, compiled and JIT-compiled once
};

}  // namespace moe
