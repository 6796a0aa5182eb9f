// Fuzzes token shard parsing (parse_token_shard, what TokenShard::open checks): the input is a
// whole .bin shard. An accepted shard's size must match its header and every id must lie in the
// vocabulary.
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/token_shard.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libFuzzer's buffer is allocated for each input, so the ids after the 32-byte header are
  // aligned as a mapped file's are.
  moe::fuzz::parse_or_reject([&] {
    const moe::ShardContents shard =
        moe::parse_token_shard(moe::fuzz::as_text(data, size), "fuzz.bin");
    const moe::TokenSpan ids = shard.tokens;
    FUZZ_REQUIRE(moe::kTokenShardHeaderBytes + static_cast<size_t>(ids.size) * ids.id_bytes == size,
                 "the file size matches the header");
    for (int64_t i = 0; i < ids.size; ++i)
      FUZZ_REQUIRE(ids[i] >= 0 && ids[i] < shard.vocab_size, "ids lie in the vocabulary");
  });
  return 0;
}
