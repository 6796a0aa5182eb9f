// Encoding a large text with several threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace moe {

// Byte offsets that cut `text` into chunks of about `target_bytes` each: every cut is right after
// a '\n' that is followed by a printable ASCII character other than space. No GPT-2 pre-token
// crosses such a cut (a piece holding '\n' holds only whitespace), no special token contains
// '\n', and a character tokenizer sees no boundary at all, so encoding the chunks one by one and
// concatenating gives the ids of encoding the whole text. Returns the chunk starts, beginning 0.
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
