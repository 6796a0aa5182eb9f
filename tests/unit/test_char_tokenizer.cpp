#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "unit/data_files.h"
#include "unit/scratch.h"

namespace fs = std::filesystem;
using moe::CharTokenizer;

namespace {

using moe::testing::error_of;

class CharTokenizerTest : public ::testing::Test {
 protected:
  std::string json_path() const { return (scratch_.path() / "tokenizer.json").string(); }
  void write_json(const std::string& text) const { moe::write_file_atomic(json_path(), text); }
  std::string load_error() const {
    try {
      CharTokenizer::load(json_path());
    } catch (const moe::Error& e) {
      return e.what();
    }
    return "";
  }
  moe::testing::ScratchDir scratch_;
};

TEST_F(CharTokenizerTest, VocabularyIsSortedCodePoints) {
  CharTokenizer tok = CharTokenizer::build("hello world");
  EXPECT_EQ(tok.vocab_size(), 8);  // ' ', d, e, h, l, o, r, w
  EXPECT_EQ(tok.encode("hello"), (std::vector<int32_t>{3, 2, 4, 4, 5}));
  EXPECT_EQ(tok.encode(" "), (std::vector<int32_t>{0}));
  EXPECT_EQ(tok.decode({7, 5, 6, 4, 1}), "world");
  EXPECT_EQ(tok.type(), "char");
  EXPECT_FALSE(tok.eot_id().has_value());
}

TEST_F(CharTokenizerTest, MultiByteCharacters) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  CharTokenizer tok = CharTokenizer::build(text + text);
  ASSERT_EQ(tok.vocab_size(), 4);
  EXPECT_EQ(tok.chars(), (std::vector<char32_t>{U'a', 0xE9, 0x20AC, 0x1F600}));
  EXPECT_EQ(tok.encode(text), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
}

TEST_F(CharTokenizerTest, TinyShakespeareHas65Characters) {
  const std::string corpus = moe::read_file(moe::testing::data_file("tinyshakespeare/input.txt"));
  CharTokenizer tok = CharTokenizer::build(corpus);
  EXPECT_EQ(tok.vocab_size(), 65);
  EXPECT_EQ(tok.chars().front(), U'\n');
  EXPECT_EQ(tok.chars().back(), U'z');
  const std::string head = corpus.substr(0, 2000);
  EXPECT_EQ(tok.decode(tok.encode(head)), head);
}

TEST_F(CharTokenizerTest, UnknownCharacterIsNamed) {
  CharTokenizer tok = CharTokenizer::build("abc");
  std::string msg = error_of([&] { tok.encode("abz"); });
  EXPECT_NE(msg.find("'z' (U+007A)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte offset 2"), std::string::npos) << msg;
  msg = error_of([&] { tok.encode("a\n"); });
  EXPECT_NE(msg.find("U+000A"), std::string::npos) << msg;
  msg = error_of([&] { tok.encode("\xC3\xA9"); });
  EXPECT_NE(msg.find("U+00E9"), std::string::npos) << msg;
}

// A corpus that changed since a run started usually gained several characters: all are named.
TEST_F(CharTokenizerTest, EveryUnknownCharacterIsListedOnce) {
  CharTokenizer tok = CharTokenizer::build("abc");
  EXPECT_EQ(
      error_of([&] { tok.encode("ab\xC3\xA9zcz\n\xC3\xA9"); }),
      "the text holds 3 characters not in the tokenizer's vocabulary of 3 characters: U+000A, "
      "'z' (U+007A), '\xC3\xA9' (U+00E9) (the first at byte offset 2)");
  std::string many;
  for (char c = 'd'; c <= 'z'; ++c)
    many += c;
  const std::string msg = error_of([&] { tok.encode(many); });
  EXPECT_TRUE(msg.starts_with("the text holds 23 characters not in the tokenizer's vocabulary"))
      << msg;
  EXPECT_NE(msg.find("'w' (U+0077), ... (the first at byte offset 0)"), std::string::npos) << msg;
}

TEST_F(CharTokenizerTest, InvalidUtf8ReportsByteOffset) {
  CharTokenizer tok = CharTokenizer::build("abc");
  for (const auto& [text, offset] : std::vector<std::pair<std::string, int>>{
           {"ab\xFF", 2},             // invalid lead byte
           {"a\xC3", 1},              // truncated sequence
           {"a\xC3(", 1},             // bad continuation byte
           {"ab\xC0\xAF", 2},         // overlong '/'
           {"\xED\xA0\x80", 0},       // UTF-16 surrogate
           {"a\xF4\x90\x80\x80", 1},  // above U+10FFFF
       }) {
    std::string msg = error_of([&] { tok.encode(text); });
    EXPECT_NE(msg.find("not valid UTF-8 at byte offset " + std::to_string(offset)),
              std::string::npos)
        << msg;
  }
  EXPECT_THROW(CharTokenizer::build("ok\x80"), moe::Error);
  EXPECT_THROW(CharTokenizer::build(""), moe::Error);
}

TEST_F(CharTokenizerTest, DecodeOutOfRange) {
  CharTokenizer tok = CharTokenizer::build("abc");
  EXPECT_THROW(tok.decode({0, 3}), moe::Error);
  EXPECT_THROW(tok.decode({-1}), moe::Error);
  EXPECT_EQ(tok.decode({}), "");
}

TEST_F(CharTokenizerTest, SaveLoadRoundTrip) {
  CharTokenizer tok = CharTokenizer::build("To be, or not to be:\n\"that\" \\ é");
  tok.save(scratch_.str());
  CharTokenizer back = CharTokenizer::load(json_path());
  EXPECT_EQ(back.chars(), tok.chars());
  std::unique_ptr<moe::Tokenizer> any = moe::load_tokenizer(scratch_.str());
  EXPECT_EQ(any->type(), "char");
  EXPECT_EQ(any->vocab_size(), tok.vocab_size());
  EXPECT_EQ(any->encode("be or"), tok.encode("be or"));
}

TEST_F(CharTokenizerTest, MalformedFiles) {
  EXPECT_NE(load_error().find("cannot open"), std::string::npos);
  write_json("{\"type\": \"char\", \"chars\": ");
  EXPECT_NE(load_error().find("not valid JSON"), std::string::npos);
  write_json("[]");
  EXPECT_NE(load_error().find("not a JSON object"), std::string::npos);
  write_json(R"({"type": "bpe", "chars": "ab"})");
  EXPECT_NE(load_error().find("not a char tokenizer"), std::string::npos);
  write_json(R"({"type": "char"})");
  EXPECT_NE(load_error().find("\"chars\""), std::string::npos);
  write_json(R"({"type": "char", "chars": 5})");
  EXPECT_NE(load_error().find("\"chars\""), std::string::npos);
  write_json(R"({"type": "char", "chars": ""})");
  EXPECT_NE(load_error().find("empty"), std::string::npos);
  write_json(R"({"type": "char", "chars": "ba"})");
  EXPECT_NE(load_error().find("sorted"), std::string::npos);
  write_json(R"({"type": "char", "chars": "aab"})");
  EXPECT_NE(load_error().find("sorted"), std::string::npos);
  EXPECT_NE(load_error().find(json_path()), std::string::npos);
}

TEST_F(CharTokenizerTest, LoadTokenizerDispatchErrors) {
  std::string msg = error_of([&] { moe::load_tokenizer(scratch_.str()); });
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
  write_json(R"({"type": "sentencepiece"})");
  msg = error_of([&] { moe::load_tokenizer(scratch_.str()); });
  EXPECT_NE(msg.find("unknown type \"sentencepiece\""), std::string::npos) << msg;
  write_json(R"({"chars": "ab"})");
  msg = error_of([&] { moe::load_tokenizer(scratch_.str()); });
  EXPECT_NE(msg.find("\"type\""), std::string::npos) << msg;
  write_json("not json");
  EXPECT_THROW(moe::load_tokenizer(scratch_.str()), moe::Error);
}

}  // namespace
