// Encoding a large text with several threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace moe {

// Byte offsets that cut `text` into chunks of about `target_bytes` each: every cut lies between a
// printable ASCII character other than space and an ASCII whitespace character (' ', '\t', '\n',
// '\r'). In GPT-2 pre-tokenisation every piece that holds the printable character ends right
// there (letter, digit and punctuation runs stop at whitespace; contractions are fixed strings),
// so the whole text has a piece boundary at the cut; each chunk ends with such a piece, never with
// whitespace, so the lookahead in \s+(?!\S) never meets a chunk's end where the whole text would
// have more; special tokens hold no whitespace; and a character tokenizer sees no boundary at all.
// Encoding the chunks one by one and concatenating therefore gives the ids of encoding the whole
// text. (Cutting after a '\n' is not enough: "a\n\nb" splits as "a", "\n", "\n", "b", but the
// chunk "a\n\n" as "a", "\n\n".) Returns the chunk starts, beginning 0.
std::vector<size_t> safe_chunk_starts(std::string_view text, size_t target_bytes);

// tokenizer.encode(text), computed on `threads` threads (<= 0: all) over safe chunks.
// on_progress(bytes_done, bytes_total), if set, is called as chunks finish, one call at a time
// (from any of the encoding threads).
std::vector<int32_t> encode_parallel(const Tokenizer& tokenizer, std::string_view text, int threads,
                                     const std::function<void(size_t, size_t)>& on_progress = {});

// The same over chunks the caller has cut (chunk_starts begins with 0 and rises); the caller
// guarantees that encoding the chunks one by one gives the ids of the whole text.
std::vector<int32_t> encode_chunks_parallel(
    const Tokenizer& tokenizer, std::string_view text, const std::vector<size_t>& chunk_starts,
    int threads, const std::function<void(size_t, size_t)>& on_progress = {});

}  // namespace moe
