#include "data/token_shard.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/check.h"

namespace moe {
namespace {

// The ids and header fields are copied to and from memory as they are, which is the file's
// little-endian layout only on a little-endian host.
static_assert(std::endian::native == std::endian::little,
              "token shards assume a little-endian host");

constexpr char kMagic[8] = {'M', 'O', 'E', 'T', 'O', 'K', 'S', '\0'};
constexpr int64_t kMaxVocab = int64_t{1} << 31;  // ids are read back as int32
constexpr size_t kStagingIds = size_t{1} << 20;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t id_bytes;
  uint64_t n_tokens;
  uint64_t vocab_size;
};
static_assert(sizeof(Header) == kTokenShardHeaderBytes);

std::string_view header_bytes(const Header& h) {
  return {reinterpret_cast<const char*>(&h), sizeof h};
}

Header make_header(int64_t vocab_size, int64_t n_tokens) {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kTokenShardVersion;
  h.id_bytes = static_cast<uint32_t>(shard_id_bytes(vocab_size));
  h.n_tokens = static_cast<uint64_t>(n_tokens);
  h.vocab_size = static_cast<uint64_t>(vocab_size);
  return h;
}

// Index of the first id >= vocab_size, or n when all are in range.
template <typename Id>
int64_t first_out_of_range(const Id* ids, int64_t n, uint64_t vocab_size) {
  // A branch-free maximum per block keeps the common (valid) case at memory speed.
  constexpr int64_t kBlock = 4096;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    Id hi = 0;
    for (int64_t i = b; i < e; ++i)
      hi = std::max(hi, ids[i]);
    if (static_cast<uint64_t>(hi) >= vocab_size)
      for (int64_t i = b; i < e; ++i)
        if (static_cast<uint64_t>(ids[i]) >= vocab_size) return i;
  }
  return n;
}

}  // namespace

int shard_id_bytes(int64_t vocab_size) {
  return vocab_size <= 65536 ? 2 : 4;
}

ShardWriter::ShardWriter(const std::string& path, int64_t vocab_size)
    : file_(path), vocab_size_(vocab_size), id_bytes_(shard_id_bytes(vocab_size)) {
  MOE_CHECK(vocab_size >= 1 && vocab_size <= kMaxVocab, "token shard ", path, ": vocabulary size ",
            vocab_size, " is outside [1, 2^31]");
  file_.append(header_bytes(make_header(vocab_size, 0)));
  staging_.reserve(kStagingIds * static_cast<size_t>(id_bytes_));
}

void ShardWriter::append(std::span<const int32_t> ids) {
  for (size_t begin = 0; begin < ids.size(); begin += kStagingIds) {
    const size_t n = std::min(kStagingIds, ids.size() - begin);
    staging_.resize(n * static_cast<size_t>(id_bytes_));
    for (size_t i = 0; i < n; ++i) {
      const int32_t id = ids[begin + i];
      MOE_CHECK(id >= 0 && id < vocab_size_, "token shard ", file_.path(), ": id ", id,
                " at position ", count_ + static_cast<int64_t>(begin + i),
                " is outside the vocabulary [0, ", vocab_size_, ")");
      if (id_bytes_ == 2) {
        const uint16_t v = static_cast<uint16_t>(id);
        std::memcpy(&staging_[i * 2], &v, 2);
      } else {
        std::memcpy(&staging_[i * 4], &id, 4);
      }
    }
    file_.append(staging_);
  }
  count_ += static_cast<int64_t>(ids.size());
}

void ShardWriter::append(const TokenSpan& ids) {
  std::vector<int32_t> chunk(std::min<size_t>(kStagingIds, static_cast<size_t>(ids.size)));
  for (int64_t begin = 0; begin < ids.size; begin += static_cast<int64_t>(chunk.size())) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(chunk.size()), ids.size - begin);
    ids.copy_to(chunk.data(), begin, n);
    append(std::span<const int32_t>(chunk.data(), static_cast<size_t>(n)));
  }
}

void ShardWriter::finish() {
  file_.write_at(0, header_bytes(make_header(vocab_size_, count_)));
  file_.commit();
}

void write_shard(const std::string& path, const TokenSpan& ids, int64_t vocab_size) {
  ShardWriter writer(path, vocab_size);
  writer.append(ids);
  writer.finish();
}

ShardContents parse_token_shard(std::string_view bytes, const std::string& path) {
  MOE_CHECK(bytes.size() >= kTokenShardHeaderBytes, "token shard ", path,
            " is truncated: ", bytes.size(), " bytes, shorter than its ", kTokenShardHeaderBytes,
            "-byte header");
  Header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  MOE_CHECK(std::memcmp(h.magic, kMagic, sizeof kMagic) == 0, "token shard ", path,
            " is not a moe token shard (bad magic; expected \"MOETOKS\")");
  MOE_CHECK(h.version == kTokenShardVersion, "token shard ", path, " has format version ",
            h.version, "; this build reads version ", kTokenShardVersion,
            " (prepare the data again with moe prepare)");
  MOE_CHECK(h.id_bytes == 2 || h.id_bytes == 4, "token shard ", path, " has id width ", h.id_bytes,
            " bytes; expected 2 or 4");
  MOE_CHECK(h.vocab_size >= 1 && h.vocab_size <= static_cast<uint64_t>(kMaxVocab), "token shard ",
            path, " has vocabulary size ", h.vocab_size, ", outside [1, 2^31]");
  MOE_CHECK(static_cast<int>(h.id_bytes) == shard_id_bytes(static_cast<int64_t>(h.vocab_size)),
            "token shard ", path, " stores ", h.id_bytes, "-byte ids for a vocabulary of ",
            h.vocab_size, "; expected ", shard_id_bytes(static_cast<int64_t>(h.vocab_size)));
  const uint64_t payload = bytes.size() - kTokenShardHeaderBytes;
  MOE_CHECK(h.n_tokens <= payload / h.id_bytes && payload == h.n_tokens * h.id_bytes,
            "token shard ", path, " has ", bytes.size(), " bytes but its header promises ",
            h.n_tokens, " tokens (", kTokenShardHeaderBytes + h.n_tokens * h.id_bytes,
            " bytes); the file is truncated or damaged");
  const TokenSpan span{bytes.data() + kTokenShardHeaderBytes, static_cast<int64_t>(h.n_tokens),
                       static_cast<int>(h.id_bytes)};
  const int64_t bad =
      h.id_bytes == 2
          ? first_out_of_range(static_cast<const uint16_t*>(span.data), span.size, h.vocab_size)
          : first_out_of_range(static_cast<const uint32_t*>(span.data), span.size, h.vocab_size);
  MOE_CHECK(bad == span.size, "token shard ", path, ": id ", static_cast<uint32_t>(span[bad]),
            " at position ", bad, " is outside the vocabulary [0, ", h.vocab_size, ")");
  return {span, static_cast<int64_t>(h.vocab_size)};
}

TokenShard TokenShard::open(const std::string& path) {
  MappedFile file(path);
  const ShardContents contents = parse_token_shard(file.bytes(), path);
  return TokenShard(std::move(file), contents.tokens, contents.vocab_size);
}

}  // namespace moe
