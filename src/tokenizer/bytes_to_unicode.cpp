#include "tokenizer/bytes_to_unicode.h"

#include "tokenizer/utf8.h"

namespace moe {
namespace {

bool maps_to_itself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteMap {
  std::array<char32_t, 256> to_unicode{};
  std::array<uint8_t, 256> id_order{};
  ByteMap() {
    int next_shifted = 0, next_id = 0;
    for (int b = 0; b < 256; ++b)
      if (maps_to_itself(b)) {
        to_unicode[b] = static_cast<char32_t>(b);
        id_order[next_id++] = static_cast<uint8_t>(b);
      }
    for (int b = 0; b < 256; ++b)
      if (!maps_to_itself(b)) {
        to_unicode[b] = static_cast<char32_t>(256 + next_shifted++);
        id_order[next_id++] = static_cast<uint8_t>(b);
      }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

const std::array<char32_t, 256>& byte_to_unicode() {
  return byte_map().to_unicode;
}

const std::array<uint8_t, 256>& byte_id_order() {
  return byte_map().id_order;
}

std::string bytes_to_unicode_text(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes)
    append_utf8(out, byte_to_unicode()[static_cast<unsigned char>(b)]);
  return out;
}

std::optional<std::string> unicode_text_to_bytes(std::string_view text) {
  // The image of the map is U+0021..U+0143, so a table over that range inverts it.
  static const std::array<int, 0x144> from_unicode = [] {
    std::array<int, 0x144> inverse;
    inverse.fill(-1);
    for (int b = 0; b < 256; ++b)
      inverse[byte_to_unicode()[b]] = b;
    return inverse;
  }();
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const std::optional<char32_t> c = next_code_point(text, pos);
    if (!c || *c >= from_unicode.size() || from_unicode[*c] < 0) return std::nullopt;
    out += static_cast<char>(from_unicode[*c]);
  }
  return out;
}

}  // namespace moe
