#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/fs.h"
#include "tokenizer/byte_bpe.h"
#include "tokenizer/parallel_encode.h"
#include "tokenizer/tokenizer.h"
#include "unit/bpe_test_util.h"
#include "unit/data_files.h"

namespace {

using moe::BpeTokenizer;
using moe::testing::error_of;
using moe::testing::ScratchDir;
using moe::testing::token_id;
using moe::testing::toy_vocab;
using Ids = std::vector<int32_t>;

const std::string& gpt2_dir() {
  static const std::string dir = moe::testing::data_file("gpt2");
  return dir;
}

// GPT-2's tokenizer, loaded once for all tests.
const BpeTokenizer& gpt2() {
  static const std::unique_ptr<BpeTokenizer> tok = BpeTokenizer::load_dir(gpt2_dir());
  return *tok;
}

// tiktoken's byte_pair_merge written plainly (openai/tiktoken src/lib.rs): start from single
// bytes and join the adjacent pair whose concatenation has the lowest rank, leftmost first.
class ReferenceBpe {
 public:
  explicit ReferenceBpe(const moe::BpeVocab& vocab) {
    for (size_t i = 0; i < vocab.tokens.size(); ++i)
      id_[vocab.tokens[i]] = static_cast<int32_t>(i);
    for (size_t r = 0; r < vocab.merges.size(); ++r)
      rank_[vocab.tokens[vocab.merges[r].first] + vocab.tokens[vocab.merges[r].second]] =
          static_cast<int32_t>(r);
  }
  Ids encode_piece(const std::string& piece) const {
    if (id_.count(piece)) return {id_.at(piece)};
    std::vector<std::string> parts;
    for (char c : piece)
      parts.emplace_back(1, c);
    while (parts.size() > 1) {
      int best = -1, best_rank = 0;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        const auto it = rank_.find(parts[i] + parts[i + 1]);
        if (it != rank_.end() && (best < 0 || it->second < best_rank))
          best = static_cast<int>(i), best_rank = it->second;
      }
      if (best < 0) break;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + best + 1);
    }
    Ids ids;
    for (const std::string& p : parts)
      ids.push_back(id_.at(p));
    return ids;
  }

 private:
  std::map<std::string, int32_t> rank_, id_;
};

TEST(BpeTokenizer, MergesByRankOfTheConcatenatedBytes) {
  // Ranks: "bc" 0, "ab" 1, "abc" 2 (made from "ab" + "c").
  const BpeTokenizer tok(toy_vocab({{"b", "c"}, {"a", "b"}, {"ab", "c"}}));
  const moe::BpeVocab& v = tok.vocab();
  // "abcd": "bc" joins first (rank 0); then "a" + "bc" = "abc" is a token (rank 2), so they join
  // although no merge names that pair: tiktoken ranks byte strings.
  EXPECT_EQ(tok.encode("abcd"), (Ids{token_id(v, "abc"), token_id(v, "d")}));
  EXPECT_EQ(tok.encode("abd"), (Ids{token_id(v, "ab"), token_id(v, "d")}));
  EXPECT_EQ(tok.encode("cab"), (Ids{token_id(v, "c"), token_id(v, "ab")}));
  EXPECT_EQ(tok.encode("abc"), (Ids{token_id(v, "abc")}));  // a whole token directly
}

TEST(BpeTokenizer, EqualRanksMergeLeftmostFirst) {
  const BpeTokenizer tok(toy_vocab({{"a", "a"}, {"aa", "aa"}}));
  const moe::BpeVocab& v = tok.vocab();
  const int32_t a = token_id(v, "a"), aa = token_id(v, "aa"), aaaa = token_id(v, "aaaa");
  EXPECT_EQ(tok.encode("aaa"), (Ids{aa, a}));
  EXPECT_EQ(tok.encode("aaaaa"), (Ids{aaaa, a}));
  EXPECT_EQ(tok.encode("aaaaaaa"), (Ids{aaaa, aa, a}));
  // Past 64 bytes the heap-based merge runs; it must agree with the scan.
  EXPECT_EQ(tok.encode(std::string(101, 'a')), ReferenceBpe(v).encode_piece(std::string(101, 'a')));
}

TEST(BpeTokenizer, Gpt2KnownIds) {
  const BpeTokenizer& tok = gpt2();
  EXPECT_EQ(tok.vocab_size(), 50257);
  EXPECT_EQ(tok.eot_id(), 50256);
  EXPECT_EQ(tok.type(), "bpe");
  EXPECT_EQ(tok.vocab().merges.size(), 50000u);
  EXPECT_EQ(tok.encode("hello world"), (Ids{31373, 995}));
  EXPECT_EQ(tok.encode("Hello, world!"), (Ids{15496, 11, 995, 0}));
  EXPECT_EQ(tok.encode("<|endoftext|>"), (Ids{50256}));
  EXPECT_EQ(tok.encode("a<|endoftext|>b"), (Ids{64, 50256, 65}));
  EXPECT_EQ(tok.encode(" "), (Ids{220}));
  EXPECT_EQ(tok.encode(""), Ids{});
  EXPECT_EQ(tok.decode({15496, 11, 995, 0, 50256}), "Hello, world!<|endoftext|>");
}

TEST(BpeTokenizer, LongAndShortPiecesAgreeWithPlainMerge) {
  const BpeTokenizer& tok = gpt2();
  const ReferenceBpe reference(tok.vocab());
  std::mt19937 gen(7);
  for (int trial = 0; trial < 200; ++trial) {
    // One pre-token: letters only, 1..300 bytes, from a small alphabet so merges happen.
    const size_t n = 1 + gen() % 300;
    std::string piece;
    for (size_t i = 0; i < n; ++i)
      piece += "etaoinshrdlu"[gen() % 12];
    ASSERT_EQ(tok.encode(piece), reference.encode_piece(piece)) << piece;
  }
}

TEST(BpeTokenizer, RandomBytesRoundTrip) {
  const BpeTokenizer& tok = gpt2();
  std::mt19937 gen(42);
  // Raw random bytes (mostly invalid UTF-8), and random mixtures of ASCII, UTF-8 lead and
  // continuation bytes, which make truncated and overlong sequences.
  const std::string pool = "ab \n\t'sZ09<|endoftext|>\x80\xbf\xc0\xc3\xe2\xe4\xf0\xf4\xf8\xff";
  for (int trial = 0; trial < 3000; ++trial) {
    const size_t n = gen() % 200;
    std::string bytes;
    for (size_t i = 0; i < n; ++i)
      bytes += trial % 2 ? static_cast<char>(gen() & 0xFF) : pool[gen() % pool.size()];
    const Ids ids = tok.encode(bytes);
    for (int32_t id : ids)
      ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
    ASSERT_EQ(tok.decode(ids), bytes) << "trial " << trial;
  }
}

TEST(BpeTokenizer, ParallelEncodingEqualsSerial) {
  const std::string text = moe::read_file(moe::testing::data_file("tinyshakespeare/input.txt"));
  EXPECT_EQ(moe::encode_parallel(gpt2(), text, 2), gpt2().encode(text));
}

TEST(BpeTokenizer, DecodeRejectsIdsOutOfRange) {
  EXPECT_EQ(error_of([] {
              gpt2().decode({1, 50257});
            }),
            "token id 50257 is out of range for a vocabulary of 50257");
  EXPECT_EQ(error_of([] { gpt2().decode({-1}); }),
            "token id -1 is out of range for a vocabulary of 50257");
}

TEST(BpeTokenizer, SpecialTokensOfAToyVocabulary) {
  const BpeTokenizer tok(toy_vocab({{"a", "b"}}, {"<|endoftext|>", "<|pad|>"}));
  const moe::BpeVocab& v = tok.vocab();
  EXPECT_EQ(tok.special_tokens(), (std::vector<std::string>{"<|endoftext|>", "<|pad|>"}));
  EXPECT_EQ(tok.eot_id(), 257);
  EXPECT_EQ(tok.encode("ab<|pad|>ab<|endoftext|>"),
            (Ids{token_id(v, "ab"), 258, token_id(v, "ab"), 257}));
  const BpeTokenizer no_eot(toy_vocab({}, {"<|pad|>"}));
  EXPECT_FALSE(no_eot.eot_id().has_value());
}

TEST(BpeTokenizer, SaveLoadRoundTrip) {
  ScratchDir dir;
  gpt2().save(dir.str());
  const std::unique_ptr<moe::Tokenizer> loaded = moe::load_tokenizer(dir.str());
  const auto& bpe = dynamic_cast<const BpeTokenizer&>(*loaded);
  EXPECT_EQ(bpe.vocab().tokens, gpt2().vocab().tokens);
  EXPECT_EQ(bpe.vocab().merges, gpt2().vocab().merges);
  EXPECT_EQ(bpe.eot_id(), 50256);
  const std::string text = "Caf\u00e9 \U0001F600 <|endoftext|> 12345\n\n";
  EXPECT_EQ(bpe.encode(text), gpt2().encode(text));
  // The saved vocab.bpe is GPT-2's own file: same header, same merges, same characters.
  EXPECT_EQ(moe::read_file(dir / "vocab.bpe"), moe::read_file(gpt2_dir() + "/vocab.bpe"));
  EXPECT_EQ(moe::open_tokenizer("bpe:" + dir.str())->encode(text), gpt2().encode(text));
}

TEST(BpeTokenizer, OpenGpt2FindsTheDataDirectory) {
  const char* old = std::getenv("MOE_DATA_DIR");
  const std::string saved = old ? old : "";
  ::setenv("MOE_DATA_DIR", (gpt2_dir() + "/..").c_str(), 1);
  EXPECT_EQ(moe::open_tokenizer("gpt2")->encode("hello world"), (Ids{31373, 995}));
  // Nowhere to be found: the message names every place it looked.
  ScratchDir empty;
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(empty.str());
  ::setenv("MOE_DATA_DIR", "/nonexistent", 1);
  EXPECT_EQ(error_of([] { moe::open_tokenizer("gpt2"); }),
            "cannot find the GPT-2 tokenizer files (encoder.json, vocab.bpe): looked in "
            "/nonexistent/gpt2, ./data/gpt2, ../shared/data/gpt2 (set MOE_DATA_DIR to the data "
            "directory that holds gpt2/)");
  std::filesystem::current_path(cwd);
  if (old)
    ::setenv("MOE_DATA_DIR", saved.c_str(), 1);
  else
    ::unsetenv("MOE_DATA_DIR");
  EXPECT_NE(error_of([] { moe::open_tokenizer("gpt3"); }).find("known: char:DIR, gpt2, bpe:DIR"),
            std::string::npos);
}

// Writes a toy tokenizer's files to DIR, then lets `edit` damage them.
class BpeFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BpeTokenizer(toy_vocab({{"a", "b"}, {"ab", "c"}}, {"<|endoftext|>"})).save(dir_.str());
  }
  std::string encoder() const { return dir_ / "encoder.json"; }
  std::string merges() const { return dir_ / "vocab.bpe"; }
  std::string load_error() const {
    return error_of([this] { BpeTokenizer::load_dir(dir_.str()); });
  }
  void write(const std::string& path, const std::string& text) const {
    moe::write_file_atomic(path, text);
  }
  ScratchDir dir_;
};

TEST_F(BpeFilesTest, LoadsWhatItSaved) {
  EXPECT_EQ(load_error(), "");
  EXPECT_EQ(moe::read_file(merges()), "#version: 0.2\na b\nab c\n");
}

TEST_F(BpeFilesTest, MissingFiles) {
  std::filesystem::remove(merges());
  EXPECT_NE(load_error().find("cannot open " + merges()), std::string::npos) << load_error();
  std::filesystem::remove(encoder());
  EXPECT_NE(load_error().find("cannot open " + encoder()), std::string::npos) << load_error();
}

TEST_F(BpeFilesTest, CorruptEncoderJson) {
  write(encoder(), "{\"a\": 0, ");
  EXPECT_NE(load_error().find(encoder() + " is not valid JSON"), std::string::npos);
  write(encoder(), "[1, 2]");
  EXPECT_EQ(load_error(), encoder() + " is not a JSON object of token ids");
  write(encoder(), "{\"a\": \"zero\"}");
  EXPECT_EQ(load_error(), encoder() + ": the id of token \"a\" is not an integer");
  write(encoder(), "{\"a\": 0, \"b\": 5}");
  EXPECT_EQ(load_error(),
            encoder() + ": token \"b\" has id 5, but ids must be 0..1 for its 2 entries");
  write(encoder(), "{\"a\": 0, \"b\": 0}");
  EXPECT_EQ(load_error(), encoder() + ": id 0 is given to two tokens");
  write(encoder(), "{\"a\": 0, \"x y\": 1}");
  EXPECT_EQ(load_error(), encoder() + ": token \"x y\" holds a character outside GPT-2's byte map");
}

TEST_F(BpeFilesTest, CorruptVocabBpe) {
  write(merges(), "#version: 0.3\na b\nab c\n");
  EXPECT_EQ(load_error(), merges() + " does not start with the line \"#version: 0.2\"");
  write(merges(), "#version: 0.2\na b\nab qz\n");
  EXPECT_EQ(load_error(),
            merges() + " line 3: merge names token \"qz\", which is not in " + encoder());
  write(merges(), "#version: 0.2\na b\nabc\n");
  EXPECT_EQ(load_error(), merges() + " line 3: expected \"LEFT RIGHT\", got \"abc\"");
  write(merges(), "#version: 0.2\na b\nab c\nb c\n");
  EXPECT_EQ(load_error(), encoder() + " + " + merges() +
                              ": BPE merge 3 (\"b\" + \"c\") makes \"bc\", which is not in the "
                              "vocabulary");
  write(merges(), "#version: 0.2\na b\nab c\na b\n");
  EXPECT_EQ(load_error(), encoder() + " + " + merges() + ": BPE merges 1 and 3 both make \"ab\"");
}

// Copies of GPT-2's files from some mirrors have CRLF line ends.
TEST_F(BpeFilesTest, CrlfLineEndsReadTheSameMerges) {
  const moe::BpeVocab lf = BpeTokenizer::load_dir(dir_.str())->vocab();
  std::string crlf;
  for (char c : moe::read_file(merges()))
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  ASSERT_EQ(crlf, "#version: 0.2\r\na b\r\nab c\r\n");
  write(merges(), crlf);
  const std::unique_ptr<BpeTokenizer> tok = BpeTokenizer::load_dir(dir_.str());
  EXPECT_EQ(tok->vocab().merges, lf.merges);
  EXPECT_EQ(tok->vocab().tokens, lf.tokens);
  write(merges(), "#version: 0.2\r\na b\r\nab c");  // no line end after the last merge
  EXPECT_EQ(BpeTokenizer::load_dir(dir_.str())->vocab().merges, lf.merges);
}

TEST_F(BpeFilesTest, FilesThatDoNotBelongTogether) {
  // A vocab.bpe that lost its last merge leaves "abc" in encoder.json unexplained.
  write(merges(), "#version: 0.2\na b\n");
  EXPECT_EQ(load_error(),
            encoder() + " + " + merges() +
                ": BPE vocabulary: token \"abc\" (id 257) is neither a byte, nor made "
                "by a merge, nor a special token <|name|>: the 259 tokens and 1 "
                "merges do not belong together");
  // tokenizer.json's vocab_size must agree with encoder.json.
  write(dir_ / "tokenizer.json", "{\"type\": \"bpe\", \"vocab_size\": 300}");
  write(merges(), "#version: 0.2\na b\nab c\n");
  EXPECT_EQ(error_of([this] { moe::load_tokenizer(dir_.str()); }),
            "tokenizer file " + (dir_ / "tokenizer.json") +
                " says vocab_size 300 but encoder.json beside it has 259 tokens");
}

TEST(BpeVocabCheck, RejectsBrokenVocabularies) {
  moe::BpeVocab missing_byte = toy_vocab({});
  missing_byte.tokens[0] = "xy";
  EXPECT_EQ(error_of([&] { BpeTokenizer{std::move(missing_byte)}; }),
            "BPE vocabulary: the single byte \"!\" has no token");
  moe::BpeVocab twice = toy_vocab({{"a", "b"}});
  twice.tokens.push_back("ab");
  EXPECT_EQ(error_of([&] { BpeTokenizer{std::move(twice)}; }),
            "BPE vocabulary: token \"ab\" appears twice (ids 256 and 257)");
}

}  // namespace
