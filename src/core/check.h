// Errors: every user-facing failure throws moe::Error with a one-line message that names the
// thing at fault and, where there is one, the fix.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace moe {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenates any streamable values into one string: str_cat("n_heads=", 8) -> "n_heads=8".
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// The longest text an error message quotes from input (a line, a key, a JSON value), in characters.
inline constexpr size_t kMaxExcerpt = 200;

// `text` as quoted in an error message: at most kMaxExcerpt characters, a cut marked with "…" and
// made between UTF-8 characters, so a hostile file cannot turn one error line into megabytes.
inline std::string excerpt(std::string_view text) {
  if (text.size() <= kMaxExcerpt) return std::string(text);
  size_t keep = kMaxExcerpt - 1;  // bytes, so at most as many characters; "…" is the last one
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80)
    --keep;  // text[keep] continues a character: cut before that character starts
  return std::string(text.substr(0, keep)) + "\u2026";
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str_cat(args...));
}

}  // namespace moe

// MOE_CHECK(cond, "message parts", ...): throws moe::Error with the message when cond is false.
#define MOE_CHECK(cond, ...)               \
  do {                                     \
    if (!(cond)) ::moe::fail(__VA_ARGS__); \
  } while (0)
