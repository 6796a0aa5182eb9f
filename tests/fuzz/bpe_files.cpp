// Fuzzes the byte-level BPE loader (BpeTokenizer::parse): the input is encoder.json, a NUL byte,
// then vocab.bpe (no NUL: all of it is encoder.json). A byte-level BPE encodes any bytes, so an
// accepted vocabulary must give back the input's own bytes after encode and decode.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer/byte_bpe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = moe::fuzz::as_text(data, size);
  const size_t nul = input.find('\0');
  const std::string_view encoder = input.substr(0, nul);
  const std::string_view merges =
      nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  moe::fuzz::parse_or_reject([&] {
    const std::unique_ptr<moe::BpeTokenizer> tok =
        moe::BpeTokenizer::parse(encoder, merges, "encoder.json", "vocab.bpe");
    FUZZ_REQUIRE(tok->decode(tok->encode(input)) == input, "any bytes round-trip");
  });
  return 0;
}
