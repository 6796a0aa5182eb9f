#include <gtest/gtest.h>

#include <string>

#include "data/wikitext.h"
#include "tokenizer/char_tokenizer.h"

namespace moe {
namespace {

TEST(WikiText, LineRules) {
  EXPECT_EQ(clean_wikitext_line(" The game began . "), "The game began .");
  EXPECT_EQ(clean_wikitext_line(""), "");
  EXPECT_EQ(clean_wikitext_line(" \t \r"), "");
  // Headings of every level, with or without surrounding space.
  EXPECT_EQ(clean_wikitext_line(" = Robert <unk> = "), "");
  EXPECT_EQ(clean_wikitext_line(" = = Definitions = = "), "");
  EXPECT_EQ(clean_wikitext_line("= = = Early life = = ="), "");
  // '=' inside a line is kept; only a leading one marks a heading.
  EXPECT_EQ(clean_wikitext_line(" x = 3 "), "x = 3");
  // <unk> removed, then whitespace runs collapse and the ends are stripped again.
  EXPECT_EQ(clean_wikitext_line(" <unk> was born in <unk> , 1900 . "), "was born in , 1900 .");
  EXPECT_EQ(clean_wikitext_line("a \t\t b\r"), "a b");
  EXPECT_EQ(clean_wikitext_line(" <unk> <unk> "), "");
  // One left-to-right pass, like Python's str.replace: removing the inner marker does not
  // create a new one that is removed too.
  EXPECT_EQ(clean_wikitext_line("<u<unk>nk>"), "<unk>");
  EXPECT_EQ(clean_wikitext_line("<unk<unk>>"), "<unk>");
  EXPECT_EQ(clean_wikitext_line("tokens @-@ based"), "tokens @-@ based");
}

TEST(WikiText, JoinedOutputIsExact) {
  const std::string text =
      " \n"
      " = Homarus gammarus = \n"
      " \n"
      " Homarus gammarus is a <unk> lobster . \n"
      " \n"
      " = = Description = = \n"
      "\n"
      " It   is <unk>\tblue . \n"
      " <unk> \n"
      "last line without newline";
  std::string out;
  append_clean_wikitext(out, text);
  EXPECT_EQ(out,
            "Homarus gammarus is a lobster .<|endoftext|>It is blue .<|endoftext|>"
            "last line without newline<|endoftext|>");
}

TEST(WikiText, CleaningInPiecesEqualsWhole) {
  const std::string text = " = T = \n a <unk> b \n\n c  d \n = = S = = \n e \n";
  std::string whole;
  append_clean_wikitext(whole, text);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    if (cut > 0 && text[cut - 1] != '\n') continue;  // pieces are cut after a '\n'
    std::string pieces;
    append_clean_wikitext(pieces, std::string_view(text).substr(0, cut));
    append_clean_wikitext(pieces, std::string_view(text).substr(cut));
    EXPECT_EQ(pieces, whole) << "cut at " << cut;
  }
}

TEST(WikiText, EmptyWhenNothingIsKept) {
  std::string out;
  append_clean_wikitext(out, " \n = A = \n <unk> \n\n");
  EXPECT_EQ(out, "");
}

TEST(WikiText, ChunkStartsFollowMarkersAndEncodeLikeTheWhole) {
  std::string cleaned;
  for (int i = 0; i < 50; ++i)
    cleaned += "line " + std::to_string(i) + " text" + std::string(kEndOfText);
  const std::vector<size_t> starts = end_of_text_chunk_starts(cleaned, 40);
  ASSERT_GT(starts.size(), 5u);
  EXPECT_EQ(starts[0], 0u);
  for (size_t i = 1; i < starts.size(); ++i) {
    EXPECT_GT(starts[i], starts[i - 1]);
    ASSERT_GE(starts[i], kEndOfText.size());
    EXPECT_EQ(cleaned.substr(starts[i] - kEndOfText.size(), kEndOfText.size()), kEndOfText);
  }
  const CharTokenizer tok = CharTokenizer::build(cleaned);
  std::vector<int32_t> pieces;
  for (size_t i = 0; i < starts.size(); ++i) {
    const size_t end = i + 1 < starts.size() ? starts[i + 1] : cleaned.size();
    const std::vector<int32_t> ids =
        tok.encode(std::string_view(cleaned).substr(starts[i], end - starts[i]));
    pieces.insert(pieces.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(pieces, tok.encode(cleaned));
  EXPECT_EQ(end_of_text_chunk_starts("short<|endoftext|>", 1 << 20), (std::vector<size_t>{0}));
}

}  // namespace
}  // namespace moe
