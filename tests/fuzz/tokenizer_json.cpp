// Fuzzes tokenizer.json (parse_tokenizer, what load_tokenizer reads): "char" vocabularies, and
// "bpe" ones whose encoder.json and vocab.bpe come from a small valid BPE written once to a
// temporary directory. An accepted tokenizer must decode its whole vocabulary and encode the
// result back to the same ids (char), or round-trip sample text (bpe).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "tokenizer/byte_bpe.h"
#include "tokenizer/tokenizer.h"

namespace {

std::string bpe_dir;

void remove_bpe_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(bpe_dir, ignored);
}

// 256 bytes, the merges t+h, th+e, " "+the, and <|endoftext|>.
void write_bpe_dir() {
  char pattern[] = "/tmp/moe_fuzz_tokenizer.XXXXXX";
  if (mkdtemp(pattern) == nullptr) std::abort();
  bpe_dir = pattern;
  std::atexit(remove_bpe_dir);
  moe::BpeVocab vocab;
  for (int b = 0; b < 256; ++b)
    vocab.tokens.emplace_back(1, static_cast<char>(b));
  const auto add_merge = [&](int32_t left, int32_t right) {
    vocab.tokens.push_back(vocab.tokens[left] + vocab.tokens[right]);
    vocab.merges.emplace_back(left, right);
    return static_cast<int32_t>(vocab.tokens.size() - 1);
  };
  const int32_t th = add_merge('t', 'h');
  const int32_t the = add_merge(th, 'e');
  add_merge(' ', the);
  vocab.tokens.push_back("<|endoftext|>");
  moe::BpeTokenizer(std::move(vocab)).save(bpe_dir);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  write_bpe_dir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  moe::fuzz::parse_or_reject([&] {
    const std::unique_ptr<moe::Tokenizer> tok =
        moe::parse_tokenizer(moe::fuzz::as_text(data, size), bpe_dir);
    if (tok->type() == "char") {
      std::vector<int32_t> ids(static_cast<size_t>(tok->vocab_size()));
      std::iota(ids.begin(), ids.end(), 0);
      FUZZ_REQUIRE(tok->encode(tok->decode(ids)) == ids, "the vocabulary decodes and re-encodes");
    } else {
      const std::string text = "the other <|endoftext|> the\xff";
      FUZZ_REQUIRE(tok->decode(tok->encode(text)) == text, "BPE text round-trips");
    }
  });
  return 0;
}
