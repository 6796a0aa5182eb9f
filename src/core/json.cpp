#include "core/json.h"

#include "core/fs.h"

namespace moe {
namespace {

// The byte offset at which arrays and objects first nest deeper than kMaxJsonDepth, or npos.
// Brackets inside strings do not count. The count is exact on valid JSON and on every prefix of
// it, which is all a parser ever builds before it stops at an error.
size_t too_deep_at(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string_view::npos;
}

// The library's message without its "[json.exception.parse_error.101] " prefix, bounded: a
// syntax error quotes the token it stopped in, which can be a whole unterminated string.
std::string library_message(const nlohmann::json::exception& e) {
  std::string_view what = e.what();
  if (what.starts_with("[json.exception.")) {
    const size_t end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return excerpt(what);
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  const size_t deep = too_deep_at(text);
  MOE_CHECK(deep == std::string_view::npos, source, " nests arrays and objects more than ",
            kMaxJsonDepth, " deep (at byte ", deep, ")");
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(source, " is not valid JSON (", library_message(e), ")");
  }
}

nlohmann::json read_json_file(const std::string& path) {
  return parse_json(read_file(path), path);
}

std::string json_excerpt(const nlohmann::json& value) {
  // Strings we did not parse (built in code) may hold invalid UTF-8; replace rather than throw.
  return excerpt(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace moe
