#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/fs.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/parallel_encode.h"
#include "unit/data_files.h"

namespace {

TEST(SafeChunkStarts, CutsOnlyAfterNewlinesFollowedByPrintableAscii) {
  const std::string text = "ab\n\ncd\n ef\n\tgh\nij\n";
  const std::vector<size_t> starts = moe::safe_chunk_starts(text, 1);
  ASSERT_EQ(starts.front(), 0u);
  // Offsets 4 ("cd") and 15 ("ij") qualify; 3 (followed by '\n'), 7 (' ') and 11 ('\t') do not,
  // and the final '\n' ends the text.
  EXPECT_EQ(starts, (std::vector<size_t>{0, 4, 15}));
}

TEST(SafeChunkStarts, ChunksAreAboutTheTargetSize) {
  std::string text;
  for (int i = 0; i < 1000; ++i)
    text += "line " + std::to_string(i) + "\n";
  const std::vector<size_t> starts = moe::safe_chunk_starts(text, 100);
  for (size_t i = 1; i < starts.size(); ++i) {
    EXPECT_EQ(text[starts[i] - 1], '\n');
    EXPECT_GE(starts[i] - starts[i - 1], 100u);
    EXPECT_LT(starts[i] - starts[i - 1], 100u + 16u);
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

}  // namespace
