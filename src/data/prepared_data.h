// A directory written by `moe prepare`: meta.json (what was prepared, how, and the token counts),
// tokenizer.json (+ the files the tokenizer's save() writes), train.bin and val.bin token shards
// (test.bin when a test split was given). meta.json is written last, so a directory without it
// is incomplete.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "data/token_shard.h"
#include "tokenizer/tokenizer.h"

namespace moe {

inline constexpr const char* kPreparedFormat = "moe-prepared";
inline constexpr int kPreparedVersion = 1;

struct PreparedData {
  std::string dir;
  nlohmann::json meta;
  std::unique_ptr<Tokenizer> tokenizer;
  TokenShard train, val;  // memory-mapped, ids validated
};

// Opens DIR and checks that meta.json, the tokenizer and the shards agree (vocabulary size,
// token counts); any mismatch is an error naming the file.
PreparedData open_prepared_data(const std::string& dir);

}  // namespace moe
