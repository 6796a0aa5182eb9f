#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/fs.h"
#include "tokenizer/byte_bpe.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/parallel_encode.h"
#include "unit/data_files.h"

namespace {

TEST(SafeChunkStarts, CutsOnlyBetweenPrintableAsciiAndWhitespace) {
  const std::string text = "ab\n\ncd\n ef\n\tgh \xc2\xa0ij\r\n";
  const std::vector<size_t> starts = moe::safe_chunk_starts(text, 1);
  // Offsets 2, 6, 10, 14 and 19 follow a printable character and start whitespace; 3 and 7
  // follow whitespace, and 15 (U+00A0) is not ASCII.
  EXPECT_EQ(starts, (std::vector<size_t>{0, 2, 6, 10, 14, 19}));
}

TEST(SafeChunkStarts, ChunksAreAboutTheTargetSize) {
  std::string text;
  for (int i = 0; i < 1000; ++i)
    text += "line " + std::to_string(i) + "\n";
  const std::vector<size_t> starts = moe::safe_chunk_starts(text, 100);
  for (size_t i = 1; i < starts.size(); ++i) {
    EXPECT_TRUE(text[starts[i]] == ' ' || text[starts[i]] == '\n');
    EXPECT_NE(text[starts[i] - 1], ' ');
    EXPECT_GE(starts[i] - starts[i - 1], 100u);
    EXPECT_LT(starts[i] - starts[i - 1], 100u + 8u);
  }
  EXPECT_GT(starts.size(), 50u);
}

TEST(EncodeParallel, EqualsSerialEncodingOfTinyShakespeare) {
  const std::string corpus = moe::read_file(moe::testing::data_file("tinyshakespeare/input.txt"));
  const moe::CharTokenizer tok = moe::CharTokenizer::build(corpus);
  size_t last_done = 0, calls = 0;
  const std::vector<int32_t> ids =
      moe::encode_parallel(tok, corpus, 2, [&](size_t done, size_t total) {
        EXPECT_EQ(total, corpus.size());
        last_done = done;
        ++calls;
      });
  EXPECT_EQ(ids, tok.encode(corpus));
  EXPECT_EQ(last_done, corpus.size());
  EXPECT_GE(calls, 1u);
}

// Texts of a few MiB so that the 1 MiB chunks cut them, with whitespace runs of every kind
// before the cut points: "a\n\nb" is where cutting after a newline would go wrong.
TEST(EncodeParallel, Gpt2EqualsSerialAcrossCuts) {
  const auto gpt2 = moe::BpeTokenizer::load_dir(moe::testing::data_file("gpt2"));
  std::string text;
  for (int i = 0; text.size() < (size_t{3} << 20); ++i)
    text += "word" + std::to_string(i) + (i % 3 ? "\n\n" : i % 5 ? "  \n" : " \t ") + "It's";
  EXPECT_GT(moe::safe_chunk_starts(text, size_t{1} << 20).size(), 2u);
  EXPECT_EQ(moe::encode_parallel(*gpt2, text, 2), gpt2->encode(text));
  std::string wiki;
  for (const char* name : {"wikitext-2/wiki.valid.tokens", "wikitext-2/wiki.test.tokens"})
    wiki += moe::read_file(moe::testing::data_file(name));
  EXPECT_GT(moe::safe_chunk_starts(wiki, size_t{1} << 20).size(), 2u);
  EXPECT_EQ(moe::encode_parallel(*gpt2, wiki, 2), gpt2->encode(wiki));
}

}  // namespace
