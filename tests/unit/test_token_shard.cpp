#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "data/token_shard.h"
#include "unit/scratch.h"

namespace fs = std::filesystem;

namespace moe {
namespace {

class TokenShardTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_ / name; }

  // A valid shard of ids 0..n-1 (vocab 100), as bytes to be damaged.
  std::string good_shard_bytes(int n = 10) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      ids[static_cast<size_t>(i)] = i;
    write_shard(path("good.bin"), TokenSpan::of(ids), 100);
    return read_file(path("good.bin"));
  }

  // open() on these bytes must fail with a message naming the file and containing `fragment`.
  void expect_rejected(const std::string& bytes, const std::string& fragment) {
    const std::string p = path("bad.bin");
    write_file_atomic(p, bytes);
    try {
      TokenShard::open(p);
      FAIL() << "expected an error containing '" << fragment << "'";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
    }
  }

  moe::testing::ScratchDir scratch_;
};

void expect_round_trip(const std::string& p, const std::vector<int32_t>& ids, int64_t vocab,
                       int id_bytes) {
  write_shard(p, TokenSpan::of(ids), vocab);
  EXPECT_EQ(fs::file_size(p), kTokenShardHeaderBytes + ids.size() * static_cast<size_t>(id_bytes));
  const TokenShard shard = TokenShard::open(p);
  EXPECT_EQ(shard.size(), static_cast<int64_t>(ids.size()));
  EXPECT_EQ(shard.vocab_size(), vocab);
  EXPECT_EQ(shard.tokens().id_bytes, id_bytes);
  std::vector<int32_t> back(ids.size());
  shard.tokens().copy_to(back.data(), 0, static_cast<int64_t>(ids.size()));
  EXPECT_EQ(back, ids);
  for (size_t i = 0; i < ids.size(); ++i)
    ASSERT_EQ(shard.tokens()[static_cast<int64_t>(i)], ids[i]);
}

TEST_F(TokenShardTest, RoundTripUint16) {
  // 65,536 is the largest vocabulary with 2-byte ids; its largest id is 65,535.
  EXPECT_EQ(shard_id_bytes(65536), 2);
  expect_round_trip(path("a.bin"), {0, 1, 65535, 300, 7, 65535, 0}, 65536, 2);
  expect_round_trip(path("b.bin"), {3, 64, 0}, 65, 2);
}

TEST_F(TokenShardTest, RoundTripUint32) {
  EXPECT_EQ(shard_id_bytes(65537), 4);
  expect_round_trip(path("a.bin"), {0, 65536, 65535, 1, 50256}, 65537, 4);
  expect_round_trip(path("b.bin"), {(1 << 24) - 1, 0, 12345678}, 1 << 24, 4);
}

TEST_F(TokenShardTest, LittleEndianHeaderAndIds) {
  write_shard(path("a.bin"), TokenSpan::of({0x0102, 0x0304}), 50000);
  const std::string b = read_file(path("a.bin"));
  ASSERT_EQ(b.size(), 32u + 4u);
  EXPECT_EQ(b.substr(0, 8), std::string("MOETOKS\0", 8));
  EXPECT_EQ(b[8], 1);   // version
  EXPECT_EQ(b[12], 2);  // id bytes
  EXPECT_EQ(b[16], 2);  // token count
  EXPECT_EQ(static_cast<unsigned char>(b[24]), 50000 & 0xFF);
  EXPECT_EQ(b[32], 0x02);
  EXPECT_EQ(b[33], 0x01);
}

TEST_F(TokenShardTest, EmptyShardAndAppendsInPieces) {
  expect_round_trip(path("empty.bin"), {}, 10, 2);
  ShardWriter w(path("pieces.bin"), 10);
  const std::vector<int32_t> a{1, 2, 3}, b{4, 5};
  w.append(a);
  w.append(b);
  EXPECT_EQ(w.count(), 5);
  EXPECT_FALSE(file_exists(path("pieces.bin")));  // only finish() puts the file in place
  w.finish();
  const TokenShard s = TokenShard::open(path("pieces.bin"));
  EXPECT_EQ(s.size(), 5);
  EXPECT_EQ(s.tokens()[4], 5);
}

TEST_F(TokenShardTest, WriterRejectsOutOfRangeIdsAndLeavesNoFile) {
  {
    ShardWriter w(path("x.bin"), 10);
    EXPECT_THROW(w.append(std::vector<int32_t>{1, 10}), Error);
    EXPECT_THROW(w.append(std::vector<int32_t>{-1}), Error);
  }
  EXPECT_FALSE(file_exists(path("x.bin")));
  EXPECT_TRUE(fs::is_empty(scratch_.path()));  // the temporary file is gone too
  EXPECT_THROW(ShardWriter(path("y.bin"), 0), Error);
}

TEST_F(TokenShardTest, SliceWritesARange) {
  const std::vector<int32_t> ids{5, 6, 7, 8, 9};
  write_shard(path("s.bin"), TokenSpan::of(ids).slice(1, 4), 10);
  const TokenShard s = TokenShard::open(path("s.bin"));
  ASSERT_EQ(s.size(), 3);
  EXPECT_EQ(s.tokens()[0], 6);
  EXPECT_EQ(s.tokens()[2], 8);
}

TEST_F(TokenShardTest, RejectsBadMagic) {
  std::string b = good_shard_bytes();
  b[0] = 'X';
  expect_rejected(b, "bad magic");
}

TEST_F(TokenShardTest, RejectsShortFile) {
  expect_rejected(good_shard_bytes().substr(0, 20), "shorter than its 32-byte header");
  expect_rejected("", "truncated");
}

TEST_F(TokenShardTest, RejectsSizeNotMatchingTokenCount) {
  const std::string b = good_shard_bytes(10);
  expect_rejected(b.substr(0, b.size() - 2), "header promises 10 tokens");  // one id short
  expect_rejected(b.substr(0, b.size() - 1), "header promises 10 tokens");  // half an id
  expect_rejected(b + std::string(2, '\0'), "header promises 10 tokens");   // extra bytes
  std::string huge = b;
  const uint64_t count = uint64_t{1} << 62;  // count * id_bytes would overflow
  std::memcpy(&huge[16], &count, 8);
  expect_rejected(huge, "truncated or damaged");
}

TEST_F(TokenShardTest, RejectsUnknownVersion) {
  std::string b = good_shard_bytes();
  b[8] = 2;
  expect_rejected(b, "format version 2");
}

TEST_F(TokenShardTest, RejectsBadIdWidth) {
  std::string b = good_shard_bytes();
  b[12] = 3;
  expect_rejected(b, "id width 3");
  b[12] = 4;  // legal width, but not the one a 100-token vocabulary uses
  expect_rejected(b, "expected 2");
}

TEST_F(TokenShardTest, RejectsIdOutOfRange) {
  std::string b = good_shard_bytes(10);
  const uint16_t bad = 100;  // vocab is 100
  std::memcpy(&b[32 + 7 * 2], &bad, 2);
  expect_rejected(b, "id 100 at position 7 is outside the vocabulary [0, 100)");
}

TEST_F(TokenShardTest, RejectsIdOutOfRangeUint32) {
  const std::vector<int32_t> ids{1, 2, 3};
  write_shard(path("w.bin"), TokenSpan::of(ids), 70000);
  std::string b = read_file(path("w.bin"));
  const uint32_t bad = 0xFFFFFFFFu;
  std::memcpy(&b[32 + 2 * 4], &bad, 4);
  expect_rejected(b, "id 4294967295 at position 2");
}

TEST_F(TokenShardTest, MissingFileIsNamed) {
  try {
    TokenShard::open(path("none.bin"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path("none.bin")), std::string::npos);
  }
}

}  // namespace
}  // namespace moe
