#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tokenizer/bytes_to_unicode.h"

namespace {

TEST(BytesToUnicode, MatchesGpt2Table) {
  const auto& map = moe::byte_to_unicode();
  // Printable Latin-1 maps to itself; the rest moves up from U+0100 in byte order
  // (openai/gpt-2 src/encoder.py): byte 0 -> U+0100, ' ' (32) -> U+0120 'Ġ', '\n' -> U+010A 'Ċ',
  // 0x7F -> U+0121, 0xAD (soft hyphen) -> U+0143, the last one.
  EXPECT_EQ(map['A'], U'A');
  EXPECT_EQ(map['!'], U'!');
  EXPECT_EQ(map[0xA1], U'\u00A1');
  EXPECT_EQ(map[0xFF], U'\u00FF');
  EXPECT_EQ(map[0], U'\u0100');
  EXPECT_EQ(map['\n'], U'\u010A');
  EXPECT_EQ(map[' '], U'\u0120');
  EXPECT_EQ(map[0x7F], U'\u0121');
  EXPECT_EQ(map[0xAD], U'\u0143');
  EXPECT_EQ(std::set<char32_t>(map.begin(), map.end()).size(), 256u);
}

TEST(BytesToUnicode, IdOrderIsGpt2EncoderOrder) {
  const auto& order = moe::byte_id_order();
  // encoder.json: "!" is 0, "~" is 93, "¡" is 94, "ÿ" is 187, then "Ā" (byte 0) is 188 and
  // "Ġ" (space) is 188 + 32 = 220.
  EXPECT_EQ(order[0], '!');
  EXPECT_EQ(order[93], '~');
  EXPECT_EQ(order[94], 0xA1);
  EXPECT_EQ(order[187], 0xFF);
  EXPECT_EQ(order[188], 0);
  EXPECT_EQ(order[220], ' ');
  EXPECT_EQ(std::set<uint8_t>(order.begin(), order.end()).size(), 256u);
}

TEST(BytesToUnicode, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b)
    all += static_cast<char>(b);
  const std::string text = moe::bytes_to_unicode_text(all);
  EXPECT_EQ(moe::unicode_text_to_bytes(text), all);
  EXPECT_EQ(moe::bytes_to_unicode_text(" the\n"), "\u0120the\u010A");
}

TEST(BytesToUnicode, RejectsCharactersOutsideTheMap) {
  EXPECT_FALSE(moe::unicode_text_to_bytes(" a").has_value());  // a raw space is never written
  EXPECT_FALSE(moe::unicode_text_to_bytes("\u0144").has_value());
  EXPECT_FALSE(moe::unicode_text_to_bytes("\xff").has_value());  // not UTF-8
}

}  // namespace
