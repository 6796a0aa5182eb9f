#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/check.h"

namespace moe {
namespace {

// tiktoken's gpt2 pat_str, with \s written as the class of Unicode's White_Space property
// (Unicode PropList.txt), which is what \s means in the Rust regex engine tiktoken uses.
std::string gpt2_pattern() {
  const std::string space =
      "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
      "\\x{202F}\\x{205F}\\x{3000}";
  return "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" + space + "\\p{L}\\p{N}]+|[" + space +
         "]+(?![^" + space + "])|[" + space + "]+";
}

pcre2_code* as_code(void* p) {
  return static_cast<pcre2_code*>(p);
}
pcre2_match_data* as_match_data(void* p) {
  return static_cast<pcre2_match_data*>(p);
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof buffer);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

Pretokenizer::Pretokenizer(std::vector<std::string> special_tokens)
    : special_tokens_(std::move(special_tokens)) {
  for (const std::string& s : special_tokens_)
    MOE_CHECK(!s.empty(), "a special token cannot be empty");
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  // MATCH_INVALID_UTF lets the matcher run over arbitrary bytes: invalid sequences simply match
  // nothing (PCRE2 >= 10.34), instead of failing the whole match.
  const std::string pattern = gpt2_pattern();
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error,
                                   &error_offset, nullptr);
  MOE_CHECK(code != nullptr, "cannot compile the GPT-2 pre-tokenisation pattern at offset ",
            error_offset, ": ", pcre2_message(error));
  const int jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  if (jit != 0) {
    pcre2_code_free(code);
    fail("cannot JIT-compile the GPT-2 pre-tokenisation pattern: ", pcre2_message(jit));
  }
  code_ = code;
}

Pretokenizer::~Pretokenizer() {
  pcre2_code_free(as_code(code_));
}

Pretokenizer::Cursor::Cursor(const Pretokenizer& owner, std::string_view text)
    : owner_(owner),
      text_(text),
      next_at_(owner.special_tokens_.size(), kNotSearched),
      match_data_(pcre2_match_data_create_from_pattern(as_code(owner.code_), nullptr)) {
  MOE_CHECK(match_data_ != nullptr, "out of memory creating a PCRE2 match buffer");
  find_next_special();
}

Pretokenizer::Cursor::~Cursor() {
  pcre2_match_data_free(as_match_data(match_data_));
}

void Pretokenizer::Cursor::find_next_special() {
  special_at_ = text_.size();
  special_ = -1;
  const std::vector<std::string>& specials = owner_.special_tokens_;
  for (size_t i = 0; i < specials.size(); ++i) {
    // Occurrences found earlier stay valid until pos_ passes them.
    if (next_at_[i] == kNotSearched || next_at_[i] < pos_) {
      const size_t at = text_.find(specials[i], pos_);
      next_at_[i] = at == std::string_view::npos ? text_.size() : at;
    }
    const bool longer_here = next_at_[i] == special_at_ && special_ >= 0 &&
                             specials[i].size() > specials[special_].size();
    if (next_at_[i] < special_at_ || longer_here) {
      special_at_ = next_at_[i];
      special_ = next_at_[i] < text_.size() ? static_cast<int>(i) : -1;
    }
  }
}

bool Pretokenizer::Cursor::next(Piece& piece) {
  if (pos_ >= text_.size()) return false;
  if (pos_ == special_at_) {
    piece = {text_.substr(pos_, owner_.special_tokens_[special_].size()), special_};
    pos_ += piece.text.size();
    find_next_special();
    return true;
  }
  // Match within [pos_, special_at_) only, as if the stretch between specials were the whole
  // text: the lookahead in \s+(?!\S) sees the stretch's end as the end of the text.
  const int rc = pcre2_jit_match(as_code(owner_.code_), reinterpret_cast<PCRE2_SPTR>(text_.data()),
                                 special_at_, pos_, 0, as_match_data(match_data_), nullptr);
  size_t begin = special_at_, end = special_at_;
  if (rc >= 0) {
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(as_match_data(match_data_));
    begin = ovector[0], end = ovector[1];
  } else {
    MOE_CHECK(rc == PCRE2_ERROR_NOMATCH, "GPT-2 pre-tokenisation failed at byte offset ", pos_,
              ": ", pcre2_message(rc));
  }
  if (begin > pos_) end = begin;  // invalid UTF-8 bytes before the match: a piece of their own
  piece = {text_.substr(pos_, end - pos_), -1};
  pos_ = end;
  return true;
}

}  // namespace moe
