#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/fs.h"
#include "data/prepare.h"
#include "tokenizer/char_tokenizer.h"
#include "train/train_data.h"
#include "unit/scratch.h"

namespace moe {
namespace {

using testing::error_of;

// A resumed run keeps its saved tokenizer: a corpus that gained characters is an error naming
// them, never a new vocabulary that would give the model's ids other characters.
TEST(TrainData, ResumedTextRunNamesTheCharactersItsTokenizerLacks) {
  testing::ScratchDir dir;
  const std::string corpus = dir / "corpus.txt";
  write_file_atomic(corpus, std::string(200, 'a') + "b\n" + std::string(200, 'c') + "xyx\n");
  DataConfig cfg;
  cfg.source = "text";
  cfg.path = corpus;
  auto saved = std::make_unique<CharTokenizer>(CharTokenizer::build("abc\n"));
  EXPECT_EQ(error_of([&] { load_train_data(cfg, 4, std::move(saved), 1); }),
            "the run's tokenizer cannot encode " + corpus +
                " (has it changed since the run started?): the text holds 2 characters not in "
                "the tokenizer's vocabulary of 4 characters: 'x' (U+0078), 'y' (U+0079) (the "
                "first at byte offset 402)");
  const TrainData same =
      load_train_data(cfg, 6, std::make_unique<CharTokenizer>(CharTokenizer::build("abcxy\n")), 1);
  EXPECT_EQ(same.tokenizer->vocab_size(), 6);
}

// Prepared data must use the very vocabulary the run was trained with, not one of the same size.
TEST(TrainData, ResumedPreparedRunNeedsTheSameVocabulary) {
  testing::ScratchDir dir;
  std::string text;
  for (int i = 0; i < 50; ++i)
    text += "abcd\n";
  write_file_atomic(dir / "a.txt", text);
  PrepareOptions o;
  o.dataset = "text";
  o.inputs = {dir / "a.txt"};
  o.tokenizer = "char";
  o.out_dir = dir / "prepared";
  prepare_dataset(o);
  DataConfig cfg;
  cfg.source = "prepared";
  cfg.dir = dir / "prepared";
  // Five characters like the data's, but 'e' where the data has 'd'.
  EXPECT_EQ(error_of([&] {
              load_train_data(cfg, 5,
                              std::make_unique<CharTokenizer>(CharTokenizer::build("abce\n")), 1);
            }),
            "the run's tokenizer and the tokenizer of " + cfg.dir +
                " give token 4 different text (\"e\" and \"d\"): the data was prepared with "
                "another vocabulary");
  EXPECT_NO_THROW(
      load_train_data(cfg, 5, std::make_unique<CharTokenizer>(CharTokenizer::build("abcd\n")), 1));
}

}  // namespace
}  // namespace moe
