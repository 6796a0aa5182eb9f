// Reading JSON that comes from files (checkpoints, tokenizers, prepared data, metrics logs), which
// may be damaged or hostile. Every parse goes through parse_json (tests/lint/input_readers.sh
// checks that no other code calls the parser): nlohmann's parser builds values iteratively, but
// dumping, copying and comparing a value recurse once per level, so an array nested 100,000 deep
// would overflow the stack in the first error message that quotes it.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/check.h"

namespace moe {

// Deeper than anything we write (a metrics eval record nests 4 levels) and shallow enough that
// recursion over a value can never exhaust the stack.
inline constexpr int kMaxJsonDepth = 64;

// Parses `text`; `source` names it in errors ("tokenizer file DIR/tokenizer.json",
// "RUN/metrics.jsonl line 3"): "SOURCE is not valid JSON (...)" or "SOURCE nests arrays and
// objects more than 64 deep (at byte N)". Nesting is measured before parsing, so no deep value is
// ever built, and nothing deep is left to destroy when parsing stops.
nlohmann::json parse_json(std::string_view text, const std::string& source);

// The file at `path` parsed with parse_json; errors name the path.
nlohmann::json read_json_file(const std::string& path);

// `value` written as JSON for an error message: at most kMaxExcerpt characters (see excerpt()).
std::string json_excerpt(const nlohmann::json& value);

// Member `key` of `object` (read from `source`) as T: std::string, int64_t or double. An absent
// member gives `fallback`; a member of another type is an error naming the source, the key and the
// value, rather than the library's type_error that names neither.
template <typename T>
T json_value_or(const nlohmann::json& object, const char* key, T fallback,
                const std::string& source) {
  static_assert(std::is_same_v<T, std::string> || std::is_same_v<T, int64_t> ||
                std::is_same_v<T, double>);
  MOE_CHECK(object.is_object(), source, " is not a JSON object");
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  const nlohmann::json& v = *it;
  if constexpr (std::is_same_v<T, std::string>) {
    if (v.is_string()) return v.get<std::string>();
    fail(source, ": \"", key, "\" must be a string, not ", json_excerpt(v));
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (v.is_number_integer() &&
        (!v.is_number_unsigned() ||
         v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))
      return v.get<int64_t>();
    fail(source, ": \"", key, "\" must be a 64-bit integer, not ", json_excerpt(v));
  } else {
    if (v.is_number()) return v.get<double>();
    fail(source, ": \"", key, "\" must be a number, not ", json_excerpt(v));
  }
}

}  // namespace moe
