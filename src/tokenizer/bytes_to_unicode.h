// GPT-2's reversible map from bytes to printable Unicode characters, used to write byte-level
// tokens as text in encoder.json and vocab.bpe (openai/gpt-2 src/encoder.py, bytes_to_unicode):
// the 188 bytes that are printable Latin-1 characters other than space ('!'..'~', '¡'..'¬',
// '®'..'ÿ') map to themselves; the other 68 map, in byte order, to U+0100, U+0101, ...
// (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moe {

// The character that stands for each byte.
const std::array<char32_t, 256>& byte_to_unicode();

// The 256 bytes in GPT-2's id order: the self-mapped bytes ascending, then the others ascending
// (so byte_id_order()[i] has id i in GPT-2's encoder.json).
const std::array<uint8_t, 256>& byte_id_order();

// UTF-8 text of the mapped characters of `bytes`.
std::string bytes_to_unicode_text(std::string_view bytes);

// The bytes that `text` stands for; nullopt when it is not valid UTF-8 or holds a character
// outside the map.
std::optional<std::string> unicode_text_to_bytes(std::string_view text);

}  // namespace moe
