// UTF-8 encoding and decoding of single code points (RFC 3629).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace moe {

// Decodes the code point at text[pos] and advances pos past it; nullopt (pos unchanged) for
// malformed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
std::optional<char32_t> next_code_point(std::string_view text, size_t& pos);

// Appends the UTF-8 bytes of code point c.
void append_utf8(std::string& out, char32_t c);

}  // namespace moe
