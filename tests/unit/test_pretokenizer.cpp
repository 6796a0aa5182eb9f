#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/pretokenizer.h"

namespace {

// The pieces of `text`, specials shown as "[i]".
std::vector<std::string> split(std::string_view text, std::vector<std::string> specials = {}) {
  const moe::Pretokenizer pre(std::move(specials));
  std::vector<std::string> out;
  moe::Pretokenizer::Cursor cursor = pre.pieces(text);
  moe::Pretokenizer::Piece piece;
  while (cursor.next(piece))
    out.push_back(piece.special >= 0 ? "[" + std::to_string(piece.special) + "]"
                                     : std::string(piece.text));
  return out;
}

using Pieces = std::vector<std::string>;

TEST(Pretokenizer, SplitsWordsNumbersPunctuationAndSpaces) {
  EXPECT_EQ(split("Hello world's 123  \n\n foo!?"),
            (Pieces{"Hello", " world", "'s", " 123", "  \n\n", " foo", "!?"}));
  // Whitespace before a word leaves its last space to the word; at the end it stays whole.
  EXPECT_EQ(split("a   b  "), (Pieces{"a", "  ", " b", "  "}));
  EXPECT_EQ(split("x\t\ty"), (Pieces{"x", "\t", "\t", "y"}));
  EXPECT_EQ(split("x\r\ny"), (Pieces{"x", "\r", "\n", "y"}));
  EXPECT_EQ(split(""), Pieces{});
}

TEST(Pretokenizer, ContractionsAreLowerCaseOnly) {
  EXPECT_EQ(split("we'll they're I'd"), (Pieces{"we", "'ll", " they", "'re", " I", "'d"}));
  EXPECT_EQ(split("WE'LL I'M"), (Pieces{"WE", "'", "LL", " I", "'", "M"}));
}

TEST(Pretokenizer, UnicodeClasses) {
  // Letters with combining marks: the marks (category M) are not letters.
  EXPECT_EQ(split("caf\u00e9 cafe\u0301"), (Pieces{"caf\u00e9", " cafe", "\u0301"}));
  // Digits of other scripts are \p{N}; CJK ideographs are letters.
  EXPECT_EQ(split("\u0661\u0662 \u4e2d\u6587"), (Pieces{"\u0661\u0662", " \u4e2d\u6587"}));
  // An emoji ZWJ sequence is one run of "other" characters.
  EXPECT_EQ(split("hi \U0001F468\u200D\U0001F469"), (Pieces{"hi", " \U0001F468\u200D\U0001F469"}));
}

TEST(Pretokenizer, WhiteSpaceIsUnicodeWhiteSpaceProperty) {
  // U+0085 (NEL) and U+3000 are White_Space; U+FEFF (BOM) is not (it is a format character).
  EXPECT_EQ(split("a \u0085b"), (Pieces{"a", " ", "\u0085", "b"}));
  EXPECT_EQ(split("a\u3000\u3000b"), (Pieces{"a", "\u3000", "\u3000", "b"}));
  EXPECT_EQ(split("a \uFEFFb"), (Pieces{"a", " \uFEFF", "b"}));
}

TEST(Pretokenizer, InvalidUtf8BytesArePiecesOfTheirOwn) {
  EXPECT_EQ(split("ab\xff"
                  "cd"),
            (Pieces{"ab", "\xff", "cd"}));
  EXPECT_EQ(split("a\xff\xfe b"), (Pieces{"a", "\xff\xfe", " b"}));
  EXPECT_EQ(split("\xe4\xb8"), (Pieces{"\xe4\xb8"}));              // a truncated 3-byte sequence
  EXPECT_EQ(split("x\xc0\x80y"), (Pieces{"x", "\xc0\x80", "y"}));  // overlong NUL
}

TEST(Pretokenizer, SpecialTokensAreCutOutFirst) {
  const std::vector<std::string> eot = {"<|endoftext|>"};
  EXPECT_EQ(split("a<|endoftext|>b", eot), (Pieces{"a", "[0]", "b"}));
  EXPECT_EQ(split("a<|endoftext|>b"), (Pieces{"a", "<|", "endoftext", "|>", "b"}));
  EXPECT_EQ(split("<|endoftext|><|endoftext|>  x", eot), (Pieces{"[0]", "[0]", " ", " x"}));
  // The stretch before a special token ends there: its trailing spaces stay whole.
  EXPECT_EQ(split("a  <|endoftext|>", eot), (Pieces{"a", "  ", "[0]"}));
  // Leftmost first; at one position the longest wins.
  EXPECT_EQ(split("x<|a|><|ab|>", {"<|ab|>", "<|a|>"}), (Pieces{"x", "[1]", "[0]"}));
  EXPECT_EQ(split("<|a|>b|>", {"<|a|>", "<|a|>b|>"}), (Pieces{"[1]"}));
}

TEST(Pretokenizer, LongRunsSplitAsOnePiece) {
  const std::string spaces(1 << 20, ' ');
  EXPECT_EQ(split("x" + spaces + "y"), (Pieces{"x", spaces.substr(1), " y"}));
  const std::string letters(1 << 20, 'q');
  EXPECT_EQ(split(letters), Pieces{letters});
}

}  // namespace
