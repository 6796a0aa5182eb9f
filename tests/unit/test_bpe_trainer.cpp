#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/fs.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/byte_bpe.h"
#include "tokenizer/tokenizer.h"
#include "unit/bpe_test_util.h"
#include "unit/data_files.h"

namespace {

using moe::testing::error_of;
using MergeList = std::vector<std::pair<std::string, std::string>>;

MergeList merge_strings(const moe::BpeVocab& vocab) {
  MergeList out;
  for (const auto& [left, right] : vocab.merges)
    out.emplace_back(vocab.tokens[left], vocab.tokens[right]);
  return out;
}

// Sennrich et al.'s example words: low x5, lower x2, newest x6, widest x3. GPT-2 pre-tokenisation
// gives the pieces "low" x1, " low" x4, " lower" x2, " newest" x6, " widest" x3.
const std::string kToyCorpus =
    "low low low low low lower lower newest newest newest newest newest newest widest widest "
    "widest";

TEST(BpeTrainer, ToyCorpusGivesTheHandDerivedMerges) {
  moe::BpeTrainingStats stats;
  const moe::BpeVocab vocab = moe::train_bpe({kToyCorpus}, {1000, {"<|endoftext|>"}}, &stats);
  // Pair counts start at es 9, st 9, we 8, lo 7, ow 7, " l" 6, ...; ties go to the smaller left
  // bytes, then the smaller right bytes. Worked by hand:
  //  1 e+s (9, beats s+t)        2 es+t (9)              3 l+o (7, beats o+w)
  //  4 lo+w (7)                  5 " "+low (6: " " is the smallest left; "low" < "n")
  //  6 " "+n (6)                 7 " n"+e (6)            8 " ne"+w (6)
  //  9 " new"+est (6)           10 " "+w (3)             11 " w"+i (3)
  // 12 " wi"+d (3)              13 " wid"+est (3)        14 " low"+e (2)
  // 15 " lowe"+r (2); then every pair occurs once ("low" is one token) and training stops.
  const MergeList expected = {{"e", "s"},      {"es", "t"},   {"l", "o"},    {"lo", "w"},
                              {" ", "low"},    {" ", "n"},    {" n", "e"},   {" ne", "w"},
                              {" new", "est"}, {" ", "w"},    {" w", "i"},   {" wi", "d"},
                              {" wid", "est"}, {" low", "e"}, {" lowe", "r"}};
  EXPECT_EQ(merge_strings(vocab), expected);
  EXPECT_EQ(vocab.tokens.size(), 256u + 15u + 1u);
  EXPECT_EQ(vocab.tokens.back(), "<|endoftext|>");
  EXPECT_EQ(stats.pieces, 16);
  EXPECT_EQ(stats.unique_pieces, 5);
  EXPECT_EQ(stats.merges, 15);
  EXPECT_EQ(stats.input_bytes, static_cast<int64_t>(kToyCorpus.size()));

  // The trained tokenizer encodes each training word as one token.
  const moe::BpeTokenizer tok{moe::BpeVocab(vocab)};
  EXPECT_EQ(tok.encode(" newest widest"),
            (std::vector<int32_t>{moe::testing::token_id(vocab, " newest"),
                                  moe::testing::token_id(vocab, " widest")}));
  EXPECT_EQ(tok.eot_id(), 271);
}

TEST(BpeTrainer, StopsAtTheRequestedVocabularySize) {
  const moe::BpeVocab vocab = moe::train_bpe({kToyCorpus}, {256 + 5 + 1, {"<|endoftext|>"}});
  EXPECT_EQ(merge_strings(vocab),
            (MergeList{{"e", "s"}, {"es", "t"}, {"l", "o"}, {"lo", "w"}, {" ", "low"}}));
  EXPECT_EQ(vocab.tokens.size(), 262u);
  const moe::BpeVocab bytes_only = moe::train_bpe({kToyCorpus}, {257, {"<|endoftext|>"}});
  EXPECT_TRUE(bytes_only.merges.empty());
}

TEST(BpeTrainer, SpecialTokensAreNeverSplitOrMergedInto) {
  // Without the cut, "<|endoftext|>" would supply the most frequent pairs.
  const std::string text = "ab<|endoftext|>ab<|endoftext|><|endoftext|>ab";
  const moe::BpeVocab vocab = moe::train_bpe({text}, {1000, {"<|endoftext|>"}});
  EXPECT_EQ(merge_strings(vocab), (MergeList{{"a", "b"}}));
  const moe::BpeTokenizer tok{moe::BpeVocab(vocab)};
  EXPECT_EQ(tok.encode(text), (std::vector<int32_t>{256, 257, 256, 257, 257, 256}));
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
}

TEST(BpeTrainer, PiecesDoNotCrossTextsOrPreTokens) {
  // "x" ends one text and "y" starts the next, and "x" and " y" are separate pieces: no "xy"
  // pair is ever counted. "ab" and " y" both occur twice; " " < "a" decides the order.
  const moe::BpeVocab vocab = moe::train_bpe({"abx", "yab", "x y", "x y"}, {1000, {}});
  EXPECT_EQ(merge_strings(vocab), (MergeList{{" ", "y"}, {"a", "b"}}));
}

TEST(BpeTrainer, DeterministicAndLoadableOnRealText) {
  const std::string corpus =
      moe::read_file(moe::testing::data_file("tinyshakespeare/input.txt")).substr(0, 200000);
  const moe::BpeVocab a = moe::train_bpe({corpus}, {800, {"<|endoftext|>"}});
  const moe::BpeVocab b = moe::train_bpe({corpus}, {800, {"<|endoftext|>"}});
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.tokens.size(), 800u);

  // Saved in GPT-2's format and read back through the same class.
  moe::testing::ScratchDir dir;
  const moe::BpeTokenizer trained{moe::BpeVocab(a)};
  trained.save(dir.str());
  const std::unique_ptr<moe::Tokenizer> loaded = moe::load_tokenizer(dir.str());
  EXPECT_EQ(loaded->type(), "bpe");
  EXPECT_EQ(loaded->vocab_size(), 800);
  EXPECT_EQ(loaded->eot_id(), 799);
  const std::string sample = corpus.substr(100000, 5000) + "<|endoftext|>";
  const std::vector<int32_t> ids = loaded->encode(sample);
  EXPECT_EQ(ids, trained.encode(sample));
  EXPECT_EQ(loaded->decode(ids), sample);
  EXPECT_LT(ids.size(), sample.size() / 2);  // 800 tokens compress English at least 2x
  EXPECT_EQ(moe::open_tokenizer("bpe:" + dir.str())->encode(sample), ids);
}

TEST(BpeTrainer, BadOptionsAndCorpora) {
  EXPECT_EQ(error_of([] {
              moe::train_bpe({""}, {1000, {"<|endoftext|>"}});
            }),
            "the training corpus is empty (no text outside special tokens)");
  EXPECT_EQ(error_of([] {
              moe::train_bpe({"<|endoftext|>"}, {1000, {"<|endoftext|>"}});
            }),
            "the training corpus is empty (no text outside special tokens)");
  EXPECT_EQ(error_of([] {
              moe::train_bpe({"abc"}, {256, {"<|endoftext|>"}});
            }),
            "vocab size 256 is smaller than the 256 byte tokens + 1 special tokens; it must be at "
            "least 257");
  EXPECT_EQ(error_of([] {
              moe::train_bpe({"abc"}, {1000, {"[PAD]"}});
            }),
            "special token \"[PAD]\" must be written <|name|> with printable ASCII and no spaces");
  EXPECT_EQ(error_of([] {
              moe::train_bpe({"abc"}, {1000, {"<|a|>", "<|a|>"}});
            }),
            "a special token is given twice");
}

}  // namespace
