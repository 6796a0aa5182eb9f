// Errors: every user-facing failure throws moe::Error with a one-line message that names the
// thing at fault and, where there is one, the fix.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

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
