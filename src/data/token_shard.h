// Token shards: a token stream on disk, written by `moe prepare` and memory-mapped by training.
//
// Layout (all integers little-endian):
//   offset  0  magic       8 bytes "MOETOKS\0"
//   offset  8  version     uint32 = 1
//   offset 12  id_bytes    uint32: 2 (uint16 ids, used when vocab_size <= 65536) or 4 (uint32)
//   offset 16  n_tokens    uint64
//   offset 24  vocab_size  uint64: every id is < vocab_size
//   offset 32  ids         n_tokens x id_bytes
// The file size is exactly 32 + n_tokens * id_bytes, so a truncated or padded file is detected
// from the header alone.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/fs.h"
#include "data/token_span.h"

namespace moe {

inline constexpr uint32_t kTokenShardVersion = 1;
inline constexpr size_t kTokenShardHeaderBytes = 32;

// 2 when every id of a vocabulary of this size fits uint16, else 4.
int shard_id_bytes(int64_t vocab_size);

// Streams ids into a new shard file; the file appears at `path` only after finish() (atomic, see
// AtomicFileWriter), so an interrupted run never leaves a partial shard.
class ShardWriter {
 public:
  ShardWriter(const std::string& path, int64_t vocab_size);
  // Ids outside [0, vocab_size) are an error.
  void append(std::span<const int32_t> ids);
  void append(const TokenSpan& ids);
  // Writes the token count into the header and moves the file into place.
  void finish();
  int64_t count() const { return count_; }

 private:
  AtomicFileWriter file_;
  int64_t vocab_size_, count_ = 0;
  int id_bytes_;
  std::string staging_;  // (chunk x id_bytes) little-endian ids waiting to be written
};

// A shard's ids and vocabulary size, as read from its bytes.
struct ShardContents {
  TokenSpan tokens;  // points into the bytes parsed
  int64_t vocab_size = 0;
};

// Validates a shard held in memory as TokenShard::open() does (header, size, every id); `path`
// names it in messages. `bytes` must outlive the result and be aligned for the id width.
ShardContents parse_token_shard(std::string_view bytes, const std::string& path);

// A shard mapped read-only. open() validates the header, the file size and every id (< vocab
// size): one branch-free pass over the ids, bounded by reading the file, which is small next to
// any training run on the data; in exchange a damaged shard is rejected up front instead of
// producing an out-of-range embedding lookup mid-run.
class TokenShard {
 public:
  static TokenShard open(const std::string& path);

  TokenSpan tokens() const { return span_; }
  int64_t size() const { return span_.size; }
  int64_t vocab_size() const { return vocab_size_; }
  const std::string& path() const { return file_.path(); }

 private:
  TokenShard(MappedFile file, TokenSpan span, int64_t vocab_size)
      : file_(std::move(file)), span_(span), vocab_size_(vocab_size) {}
  MappedFile file_;
  TokenSpan span_;
  int64_t vocab_size_;
};

// Writes `ids` as a shard at `path` (atomically).
void write_shard(const std::string& path, const TokenSpan& ids, int64_t vocab_size);

}  // namespace moe
