#include "tokenizer/char_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/check.h"
#include "core/fs.h"
#include "core/json.h"
#include "tokenizer/utf8.h"

namespace moe {
namespace {

std::vector<char32_t> decode_utf8(std::string_view text, const char* what) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t at = pos;
    std::optional<char32_t> c = next_code_point(text, pos);
    MOE_CHECK(c.has_value(), what, " is not valid UTF-8 at byte offset ", at);
    out.push_back(*c);
  }
  return out;
}

// "'a' (U+0061)" for printable characters, "U+000A" for control characters.
std::string describe(char32_t c) {
  char code[16];
  std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c));
  if (c < 0x20 || c == 0x7F) return code;
  std::string s = "'";
  append_utf8(s, c);
  return s + "' (" + code + ")";
}

}  // namespace

CharTokenizer::CharTokenizer(std::vector<char32_t> chars) : chars_(std::move(chars)) {
  ascii_ids_.fill(-1);
  for (size_t i = 0; i < chars_.size(); ++i)
    if (chars_[i] < 128) ascii_ids_[chars_[i]] = static_cast<int32_t>(i);
}

CharTokenizer CharTokenizer::build(std::string_view corpus) {
  std::vector<char32_t> chars = decode_utf8(corpus, "tokenizer corpus");
  std::sort(chars.begin(), chars.end());
  chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
  MOE_CHECK(!chars.empty(), "cannot build a character tokenizer from an empty corpus");
  return CharTokenizer(std::move(chars));
}

CharTokenizer CharTokenizer::load(const std::string& path_to_json) {
  const std::string& path = path_to_json;
  return from_json(parse_json(read_file(path), "tokenizer file " + path), path);
}

CharTokenizer CharTokenizer::from_json(const nlohmann::json& j, const std::string& path) {
  MOE_CHECK(j.is_object(), "tokenizer file ", path, " is not a JSON object");
  MOE_CHECK(j.contains("type") && j["type"] == "char", "tokenizer file ", path,
            " is not a char tokenizer (\"type\" must be \"char\")");
  MOE_CHECK(j.contains("chars") && j["chars"].is_string(), "tokenizer file ", path,
            " has no string \"chars\" field");
  const std::string text = j["chars"].get<std::string>();
  std::vector<char32_t> chars = decode_utf8(text, ("\"chars\" in tokenizer file " + path).c_str());
  MOE_CHECK(!chars.empty(), "tokenizer file ", path, " has an empty \"chars\" vocabulary");
  for (size_t i = 1; i < chars.size(); ++i)
    MOE_CHECK(chars[i - 1] < chars[i], "tokenizer file ", path,
              ": \"chars\" must be sorted with no repeats, but ", describe(chars[i]), " follows ",
              describe(chars[i - 1]));
  return CharTokenizer(std::move(chars));
}

int32_t CharTokenizer::lookup(char32_t c) const {
  if (c < 128) return ascii_ids_[c];
  auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
  return it != chars_.end() && *it == c ? static_cast<int32_t>(it - chars_.begin()) : -1;
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t at = pos;
    std::optional<char32_t> c = next_code_point(text, pos);
    MOE_CHECK(c.has_value(), "text to encode is not valid UTF-8 at byte offset ", at);
    const int32_t id = lookup(*c);
    if (id < 0) fail_unknown_chars(text, at);
    ids.push_back(id);
  }
  return ids;
}

void CharTokenizer::fail_unknown_chars(std::string_view text, size_t first_at) const {
  std::vector<char32_t> unknown;
  for (size_t pos = first_at; pos < text.size();) {
    const std::optional<char32_t> c = next_code_point(text, pos);
    if (!c) break;  // encode() reports invalid UTF-8 where it meets it; these come first
    if (lookup(*c) < 0) unknown.push_back(*c);
  }
  std::sort(unknown.begin(), unknown.end());
  unknown.erase(std::unique(unknown.begin(), unknown.end()), unknown.end());
  constexpr size_t kListed = 20;
  std::string list;
  for (size_t i = 0; i < std::min(unknown.size(), kListed); ++i)
    list += (i > 0 ? ", " : "") + describe(unknown[i]);
  if (unknown.size() > kListed) list += ", ...";
  fail("the text holds ", unknown.size(), " character", unknown.size() == 1 ? "" : "s",
       " not in the tokenizer's vocabulary of ", chars_.size(), " characters: ", list,
       " (the first at byte offset ", first_at, ")");
}

std::string CharTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (int32_t id : ids) {
    MOE_CHECK(id >= 0 && id < vocab_size(), "token id ", id,
              " is out of range for a vocabulary of ", vocab_size());
    append_utf8(out, chars_[static_cast<size_t>(id)]);
  }
  return out;
}

void CharTokenizer::save(const std::string& dir) const {
  std::string text;
  for (char32_t c : chars_)
    append_utf8(text, c);
  const nlohmann::json j = {{"type", "char"}, {"chars", text}};
  write_file_atomic(dir + "/tokenizer.json", j.dump() + "\n");
}

}  // namespace moe
