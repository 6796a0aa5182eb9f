#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "data/text_source.h"
#include "unit/scratch.h"

namespace fs = std::filesystem;

namespace {

using moe::testing::error_of;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("moe_text_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(TextSource, ReadsCorpus) {
  std::string p = temp_path("corpus.txt");
  moe::write_file_atomic(p, "First Citizen:\n");
  EXPECT_EQ(moe::read_text_corpus(p), "First Citizen:\n");
  fs::remove(p);
}

TEST(TextSource, MissingCorpus) {
  std::string p = temp_path("missing.txt");
  std::string msg = error_of([&] { moe::read_text_corpus(p); });
  EXPECT_NE(msg.find("cannot open " + p), std::string::npos) << msg;
}

TEST(TextSource, EmptyCorpus) {
  std::string p = temp_path("empty.txt");
  moe::write_file_atomic(p, "");
  EXPECT_EQ(error_of([&] { moe::read_text_corpus(p); }), "corpus " + p + " is empty");
  fs::remove(p);
}

TEST(TextSource, SplitByPosition) {
  std::vector<int32_t> tokens(100);
  std::iota(tokens.begin(), tokens.end(), 0);
  moe::TokenSplits s = moe::split_tokens(tokens, 0.9);
  ASSERT_EQ(s.train.size(), 90u);
  ASSERT_EQ(s.val.size(), 10u);
  EXPECT_EQ(s.train.front(), 0);
  EXPECT_EQ(s.train.back(), 89);
  EXPECT_EQ(s.val.front(), 90);
  EXPECT_EQ(s.val.back(), 99);
}

TEST(TextSource, SplitRoundsTrainDown) {
  moe::TokenSplits s = moe::split_tokens(std::vector<int32_t>(15, 1), 0.9);  // 13.5 -> 13
  EXPECT_EQ(s.train.size(), 13u);
  EXPECT_EQ(s.val.size(), 2u);
  s = moe::split_tokens(std::vector<int32_t>(7, 1), 1.0);
  EXPECT_EQ(s.train.size(), 7u);
  EXPECT_TRUE(s.val.empty());
}

TEST(TextSource, SplitRejectsBadFractions) {
  std::vector<int32_t> tokens(10, 0);
  EXPECT_THROW(moe::split_tokens(tokens, 0.0), moe::Error);
  EXPECT_THROW(moe::split_tokens(tokens, -0.5), moe::Error);
  EXPECT_THROW(moe::split_tokens(tokens, 1.5), moe::Error);
  EXPECT_THROW(moe::split_tokens(tokens, 0.05), moe::Error);  // no training tokens
  EXPECT_THROW(moe::split_tokens({}, 0.9), moe::Error);
}

}  // namespace
