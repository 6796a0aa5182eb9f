#include "data/wikitext.h"

namespace moe {
namespace {

constexpr std::string_view kUnk = "<unk>";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string clean_wikitext_line(std::string_view line) {
  line = strip(line);
  if (line.empty() || line.front() == '=') return {};
  // One left-to-right pass, as Python's str.replace("<unk>", "") does.
  std::string no_unk;
  no_unk.reserve(line.size());
  for (size_t i = 0; i < line.size();) {
    if (line.compare(i, kUnk.size(), kUnk) == 0) {
      i += kUnk.size();
    } else {
      no_unk += line[i++];
    }
  }
  std::string out;
  out.reserve(no_unk.size());
  for (char c : strip(no_unk)) {
    if (!is_space(c)) {
      out += c;
    } else if (out.back() != ' ') {  // strip() leaves no leading space, so out is not empty
      out += ' ';
    }
  }
  return out;
}

void append_clean_wikitext(std::string& out, std::string_view text) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const std::string cleaned = clean_wikitext_line(line);
    if (cleaned.empty()) continue;
    out += cleaned;
    out += kEndOfText;
  }
}

std::vector<size_t> end_of_text_chunk_starts(std::string_view cleaned, size_t target_bytes) {
  std::vector<size_t> starts{0};
  size_t pos = target_bytes;
  while (pos < cleaned.size()) {
    const size_t marker = cleaned.find(kEndOfText, pos - 1);
    if (marker == std::string_view::npos) break;
    const size_t cut = marker + kEndOfText.size();
    if (cut >= cleaned.size()) break;
    starts.push_back(cut);
    pos = cut + target_bytes;
  }
  return starts;
}

}  // namespace moe
