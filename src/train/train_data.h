// Turns a DataConfig into token streams: Tiny Shakespeare or any text file (character
// tokenizer built from the corpus, as the tutorials do), a directory written by `moe prepare`
// (its tokenizer and memory-mapped shards), or the synthetic source for tests.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/prepared_data.h"
#include "data/token_span.h"
#include "tokenizer/tokenizer.h"

namespace moe {

struct TrainData {
  std::unique_ptr<Tokenizer> tokenizer;  // null for synthetic data
  TokenSpan train, val;                  // views of the storage below
  std::string description;               // for logs: "tinyshakespeare (1115394 chars, vocab 65)"

  // The tokens: in memory for text and synthetic sources, memory-mapped shards for "prepared".
  std::vector<int32_t> train_ids, val_ids;
  std::unique_ptr<PreparedData> prepared;
};

// The Tiny Shakespeare file: data.path, else tinyshakespeare/input.txt found by find_data_file
// (core/data_files.h).
std::string find_shakespeare(const DataConfig& cfg);

// Loads and splits the corpus. With `tokenizer` (a resumed run) that vocabulary is reused;
// otherwise a character tokenizer is built from the corpus (prepared data: the directory's).
TrainData load_train_data(const DataConfig& cfg, int64_t vocab_size,
                          std::unique_ptr<Tokenizer> tokenizer, uint64_t seed);

}  // namespace moe
