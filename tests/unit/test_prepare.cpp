#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "data/prepare.h"
#include "data/prepared_data.h"
#include "data/wikitext.h"
#include "data_files.h"
#include "unit/scratch.h"

namespace fs = std::filesystem;

namespace moe {
namespace {

class PrepareTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_ / name; }
  std::string write(const std::string& name, const std::string& text) {
    write_file_atomic(path(name), text);
    return path(name);
  }
  PrepareOptions options(const std::string& dataset, std::vector<std::string> inputs) {
    PrepareOptions o;
    o.dataset = dataset;
    o.inputs = std::move(inputs);
    o.tokenizer = "char";
    o.out_dir = path("out");
    o.threads = 2;
    return o;
  }
  moe::testing::ScratchDir scratch_;
};

std::string decoded(const PreparedData& d, const TokenShard& shard) {
  std::vector<int32_t> ids(static_cast<size_t>(shard.size()));
  shard.tokens().copy_to(ids.data(), 0, shard.size());
  return d.tokenizer->decode(ids);
}

std::string wiki_text(int lines) {
  std::string t = " \n = Title = \n \n";
  for (int i = 0; i < lines; ++i)
    t += " Line " + std::to_string(i) + " has <unk> words  here . \n \n";
  return t;
}

TEST_F(PrepareTest, WikitextByPositionDecodesToTheCleanedText) {
  const std::string text = wiki_text(40);
  const nlohmann::json meta = prepare_dataset(options("wikitext", {write("corpus.txt", text)}));
  const PreparedData d = open_prepared_data(path("out"));
  std::string cleaned;
  append_clean_wikitext(cleaned, text);
  const int64_t n = d.train.size() + d.val.size();
  EXPECT_EQ(d.train.size(), static_cast<int64_t>(static_cast<double>(n) * 0.9));
  EXPECT_EQ(decoded(d, d.train) + decoded(d, d.val), cleaned);
  EXPECT_EQ(meta["split_rule"], "position");
  EXPECT_EQ(meta["splits"]["train"]["tokens"], d.train.size());
  EXPECT_EQ(meta["vocab_size"], d.tokenizer->vocab_size());
  EXPECT_TRUE(meta["eot_id"].is_null());  // the character tokenizer has no end-of-text token
  EXPECT_FALSE(fs::exists(path("out/.all.bin")));
}

TEST_F(PrepareTest, NamedWikitextFilesAreTheSplits) {
  const std::string train = wiki_text(30), valid = " = V = \n valid text \n", test = " test \n";
  fs::create_directories(path("wt"));
  prepare_dataset(options(
      "wikitext", {write("wt/wiki.valid.tokens", valid), write("wt/wiki.train.tokens", train),
                   write("wt/wiki.test.tokens", test)}));
  const PreparedData d = open_prepared_data(path("out"));
  EXPECT_EQ(decoded(d, d.val), "valid text<|endoftext|>");
  std::string cleaned;
  append_clean_wikitext(cleaned, train);
  EXPECT_EQ(decoded(d, d.train), cleaned);
  EXPECT_EQ(TokenShard::open(path("out/test.bin")).size(),
            17);  // "test<|endoftext|>": 4 + 13 chars
  EXPECT_EQ(d.meta["split_rule"], "named files");
}

TEST_F(PrepareTest, TextIsRawBytesSplitByPosition) {
  std::string text;
  for (int i = 0; i < 100; ++i)
    text += "Line " + std::to_string(i) + "\n\n = not a heading here = \n";
  PrepareOptions o = options("text", {write("a.txt", text), write("b.txt", "second file\n")});
  o.val_fraction = 0.25;
  prepare_dataset(o);
  const PreparedData d = open_prepared_data(path("out"));
  EXPECT_EQ(decoded(d, d.train) + decoded(d, d.val), text + "second file\n");
  const int64_t n = d.train.size() + d.val.size();
  EXPECT_EQ(d.train.size(), static_cast<int64_t>(static_cast<double>(n) * 0.75));
}

TEST_F(PrepareTest, ExistingCharTokenizerIsReused) {
  prepare_dataset(options("text", {write("a.txt", "abcabcabcabc\n")}));
  PrepareOptions o = options("text", {write("b.txt", "cab cab\n")});
  o.tokenizer = "char:" + path("out");
  o.out_dir = path("out2");
  try {
    prepare_dataset(o);  // ' ' is not in the first corpus's vocabulary
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("input " + path("b.txt") + ": the text holds 1 character not in the"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find(": ' ' (U+0020)"), std::string::npos) << msg;
  }
  write("c.txt", "cabcab\nab\n");
  o.inputs = {path("c.txt")};
  prepare_dataset(o);
  EXPECT_EQ(open_prepared_data(path("out2")).tokenizer->vocab_size(), 4);  // a b c \n
}

// Pieces and chunks cut anywhere the rules allow give the shards of one whole-file pass.
TEST_F(PrepareTest, SmallPiecesGiveTheSameShards) {
  for (const char* dataset : {"wikitext", "text"}) {
    const std::string input =
        testing::data_file(std::string(dataset) == "wikitext" ? "wikitext-2/wiki.valid.tokens"
                                                              : "tinyshakespeare/input.txt");
    PrepareOptions whole = options(dataset, {input});
    whole.out_dir = path(std::string("whole_") + dataset);
    PrepareOptions small = options(dataset, {input});
    small.out_dir = path(std::string("small_") + dataset);
    small.piece_bytes = 4096;  // hundreds of pieces of 16 chunks each
    prepare_dataset(whole);
    prepare_dataset(small);
    for (const char* file : {"train.bin", "val.bin", "tokenizer.json"})
      EXPECT_TRUE(read_file(whole.out_dir + "/" + file) == read_file(small.out_dir + "/" + file))
          << dataset << " " << file;  // (not EXPECT_EQ: a failure would print megabytes)
  }
}

void expect_error(const PrepareOptions& o, const std::string& fragment) {
  try {
    prepare_dataset(o);
    FAIL() << "expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST_F(PrepareTest, BadInputIsRejected) {
  const std::string good = write("good.txt", wiki_text(5));
  expect_error(options("wikitext", {write("empty.txt", "")}), "is empty");
  expect_error(options("wikitext", {write("headings.txt", " = A = \n \n <unk> \n")}),
               "empty after cleaning");
  expect_error(options("wikitext", {path("none.txt")}), path("none.txt"));
  expect_error(options("text", {write("latin1.txt", "caf\xe9\n")}),
               "input " + path("latin1.txt") + ": tokenizer corpus is not valid UTF-8");
  expect_error(options("books", {good}), "unknown dataset 'books'");
  PrepareOptions o = options("wikitext", {good});
  o.tokenizer = "sentencepiece";
  expect_error(o, "unknown tokenizer");
  o = options("wikitext", {good});
  o.val_fraction = 1.0;
  expect_error(o, "(0, 1)");
  fs::create_directories(path("wt"));
  expect_error(options("wikitext", {write("wt/wiki.train.tokens", wiki_text(3)), good}),
               "every input must be");
  expect_error(options("wikitext", {path("wt/wiki.train.tokens")}), "no wiki.valid.*");
  EXPECT_FALSE(fs::exists(path("out/meta.json")));
}

TEST_F(PrepareTest, OpenRejectsMismatchedDirectory) {
  prepare_dataset(options("text", {write("a.txt", wiki_text(20))}));
  EXPECT_NO_THROW(open_prepared_data(path("out")));
  // A shard from another preparation (different token count) is caught against meta.json.
  prepare_dataset(options("text", {write("b.txt", wiki_text(30))}));
  fs::copy_file(path("out/train.bin"), path("train_b.bin"));
  prepare_dataset(options("text", {path("a.txt")}));
  fs::copy_file(path("train_b.bin"), path("out/train.bin"), fs::copy_options::overwrite_existing);
  try {
    open_prepared_data(path("out"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("meta.json says"), std::string::npos) << e.what();
  }
  fs::remove(path("out/meta.json"));
  EXPECT_THROW(open_prepared_data(path("out")), Error);
  EXPECT_THROW(open_prepared_data(path("nowhere")), Error);
}

// meta.json with a value of the wrong type: the message names the file and the key, where the
// library's type_error would name neither.
TEST_F(PrepareTest, MetaJsonTypeErrorsNameFileAndKey) {
  prepare_dataset(options("text", {write("a.txt", wiki_text(20))}));
  const std::string meta_path = path("out/meta.json");
  const nlohmann::json good = nlohmann::json::parse(read_file(meta_path));
  const auto error_with = [&](const nlohmann::json::json_pointer& key, const nlohmann::json& v) {
    nlohmann::json meta = good;
    meta[key] = v;
    write_file_atomic(meta_path, meta.dump());
    return testing::error_of([&] { open_prepared_data(path("out")); });
  };
  using ptr = nlohmann::json::json_pointer;
  EXPECT_EQ(error_with(ptr("/format"), 7), meta_path + ": \"format\" must be a string, not 7");
  EXPECT_EQ(error_with(ptr("/version"), "1"),
            meta_path + ": \"version\" must be a 64-bit integer, not \"1\"");
  EXPECT_EQ(error_with(ptr("/splits/train/file"), nlohmann::json::array({1})),
            meta_path + " (split \"train\"): \"file\" must be a string, not [1]");
  EXPECT_EQ(error_with(ptr("/splits/val/tokens"), 1.5),
            meta_path + " (split \"val\"): \"tokens\" must be a 64-bit integer, not 1.5");
  EXPECT_EQ(error_with(ptr("/splits/val"), "val.bin"),
            meta_path + " (split \"val\") is not a JSON object");
  EXPECT_EQ(error_with(ptr("/vocab_size"), 18446744073709551615ull),
            meta_path + ": \"vocab_size\" must be a 64-bit integer, not 18446744073709551615");
  write_file_atomic(meta_path, std::string(100000, '[') + std::string(100000, ']'));
  EXPECT_EQ(testing::error_of([&] { open_prepared_data(path("out")); }),
            meta_path + " nests arrays and objects more than 64 deep (at byte 64)");
}

}  // namespace
}  // namespace moe
