// The tokenizer interface. A trained model directory holds tokenizer.json, whose "type" field
// selects the implementation that load_tokenizer() returns.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moe {

class Tokenizer {
 public:
  virtual ~Tokenizer();
  // Special tokens the tokenizer defines (e.g. "<|endoftext|>") are recognised in the text and
  // encoded as their ids. Thread-safe: several threads may encode with one tokenizer.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int32_t vocab_size() const = 0;
  // The end-of-text token, where the tokenizer has one.
  virtual std::optional<int32_t> eot_id() const { return {}; }
  virtual std::string type() const = 0;
  // Writes DIR/tokenizer.json and the files it relies on, such as a BPE tokenizer's encoder.json
  // and vocab.bpe, so DIR is self-contained (DIR must exist).
  virtual void save(const std::string& dir) const = 0;
};

// Reads DIR/tokenizer.json and builds the tokenizer its "type" names.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);
// The same with tokenizer.json's text held in memory (the files a BPE tokenizer.json relies on
// are still read from DIR).
std::unique_ptr<Tokenizer> parse_tokenizer(std::string_view tokenizer_json, const std::string& dir);

// Opens the tokenizer a command-line spec names: "char:DIR" (the character tokenizer saved in
// DIR/tokenizer.json), "gpt2" (GPT-2's byte-level BPE from encoder.json + vocab.bpe in
// $MOE_DATA_DIR/gpt2, ./data/gpt2 or ../shared/data/gpt2, the first that exists) or "bpe:DIR"
// (a byte-level BPE from DIR/encoder.json + DIR/vocab.bpe). Unknown specs throw, listing the
// known forms.
std::unique_ptr<Tokenizer> open_tokenizer(const std::string& spec);

}  // namespace moe
