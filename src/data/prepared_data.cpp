#include "data/prepared_data.h"

#include "core/check.h"
#include "core/fs.h"

namespace moe {
namespace {

nlohmann::json read_meta(const std::string& dir) {
  const std::string path = dir + "/meta.json";
  MOE_CHECK(file_exists(dir), "prepared data directory ", dir, " does not exist");
  MOE_CHECK(file_exists(path), dir,
            " is not a prepared data directory (no meta.json); create it with moe prepare");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, " is not valid JSON (", e.what(), ")");
  }
  MOE_CHECK(meta.is_object() && meta.value("format", "") == kPreparedFormat, path,
            " is not a moe prepared-data description (\"format\" is not \"", kPreparedFormat,
            "\")");
  MOE_CHECK(meta.value("version", 0) == kPreparedVersion, path, " has version ",
            meta.value("version", 0), "; this build reads version ", kPreparedVersion);
  MOE_CHECK(meta.contains("vocab_size") && meta["vocab_size"].is_number_integer() &&
                meta.contains("splits") && meta["splits"].is_object(),
            path, " lacks \"vocab_size\" or \"splits\"");
  return meta;
}

TokenShard open_split(const std::string& dir, const nlohmann::json& meta, const std::string& split,
                      int64_t vocab_size) {
  const std::string meta_path = dir + "/meta.json";
  MOE_CHECK(meta["splits"].contains(split), meta_path, " has no \"", split, "\" split");
  const nlohmann::json& info = meta["splits"][split];
  const std::string path = dir + "/" + info.value("file", split + ".bin");
  TokenShard shard = TokenShard::open(path);
  MOE_CHECK(shard.vocab_size() == vocab_size, "token shard ", path, " has vocabulary size ",
            shard.vocab_size(), " but ", meta_path, " says ", vocab_size);
  MOE_CHECK(shard.size() == info.value("tokens", int64_t{-1}), "token shard ", path, " holds ",
            shard.size(), " tokens but ", meta_path, " says ", info.value("tokens", int64_t{-1}));
  return shard;
}

}  // namespace

PreparedData open_prepared_data(const std::string& dir) {
  nlohmann::json meta = read_meta(dir);
  const int64_t vocab_size = meta["vocab_size"].get<int64_t>();
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(dir);
  MOE_CHECK(tokenizer->vocab_size() == vocab_size, "tokenizer in ", dir, " has ",
            tokenizer->vocab_size(), " tokens but ", dir, "/meta.json says ", vocab_size);
  TokenShard train = open_split(dir, meta, "train", vocab_size);
  TokenShard val = open_split(dir, meta, "val", vocab_size);
  return PreparedData{dir, std::move(meta), std::move(tokenizer), std::move(train), std::move(val)};
}

}  // namespace moe
