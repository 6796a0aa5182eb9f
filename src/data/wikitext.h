// WikiText cleaning, as the tutorials prepare WikiText-2/103 for language modelling:
//   for each line: strip it; drop it when empty or a heading (starts with '=', e.g.
//   " = = Definitions = = "); remove the "<unk>" markers; collapse each run of whitespace to one
//   space and strip again (dropping a line that became empty);
//   join the kept lines with "<|endoftext|>" between them and at the end.
// Whitespace here is ASCII whitespace (space, \t, \n, \v, \f, \r): the WikiText files hold no
// other kind.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace moe {

inline constexpr std::string_view kEndOfText = "<|endoftext|>";

// The cleaned line, or "" when the line is dropped. `line` holds no '\n'.
std::string clean_wikitext_line(std::string_view line);

// Appends every kept line of `text` (whole lines; the last may lack its '\n'), each followed by
// kEndOfText, to `out`. Cleaning a file in pieces cut after any '\n' and concatenating gives the
// cleaning of the whole file.
void append_clean_wikitext(std::string& out, std::string_view text);

// Byte offsets that cut cleaned text into chunks of about target_bytes, each cut right after a
// kEndOfText marker. A tokenizer treats the marker as a boundary (a special token, or characters
// for the character tokenizer), so encoding the chunks separately gives the ids of the whole
// text. Returns the chunk starts, beginning 0.
std::vector<size_t> end_of_text_chunk_starts(std::string_view cleaned, size_t target_bytes);

}  // namespace moe
