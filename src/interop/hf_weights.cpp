#include "interop/hf_weights.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/fs.h"
#include "core/json.h"

namespace moe {
namespace {

constexpr const char* kSingle = "model.safetensors";
constexpr const char* kIndex = "model.safetensors.index.json";

size_t stored_bytes(const Tensor& t, StoredDType floats) {
  const StoredDType stored = t.dtype == DType::I32 ? StoredDType::I32 : floats;
  return static_cast<size_t>(t.numel()) * stored_dtype_size(stored);
}

std::string shard_name(size_t i, size_t n) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return name;
}

}  // namespace

void write_hf_weights(const std::string& dir,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      StoredDType floats, uint64_t max_shard_bytes) {
  MOE_CHECK(max_shard_bytes > 0, "the shard size limit must be positive");
  using Shard = std::vector<std::pair<std::string, Tensor>>;
  std::vector<Shard> shards(1);
  uint64_t shard_bytes = 0, total = 0;
  for (const auto& named : tensors) {
    const uint64_t bytes = stored_bytes(named.second, floats);
    if (!shards.back().empty() && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(named);
    shard_bytes += bytes;
    total += bytes;
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  if (shards.size() == 1) {
    write_safetensors(dir + "/" + kSingle, shards[0], metadata, floats);
    return;
  }
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i, shards.size());
    write_safetensors(dir + "/" + name, shards[i], metadata, floats);
    for (const auto& [tensor, _] : shards[i])
      weight_map[tensor] = name;
  }
  const nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}},
                                        {"weight_map", weight_map}};
  write_file_atomic(dir + "/" + kIndex, index.dump(2) + "\n");
}

HfWeights HfWeights::open(const std::string& dir) {
  HfWeights w;
  const std::string index_path = dir + "/" + kIndex;
  if (!file_exists(index_path)) {
    MOE_CHECK(file_exists(dir + "/" + kSingle), "Hugging Face folder ", dir, " has neither ",
              kSingle, " nor ", kIndex);
    w.files_.push_back(SafeTensorsFile::open(dir + "/" + kSingle));
    for (const auto& e : w.files_[0].entries())
      w.where_[e.name] = 0;
    return w;
  }
  const nlohmann::json index = read_json_file(index_path);
  MOE_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
            "index ", index_path, " has no \"weight_map\" object");
  std::map<std::string, size_t> shard_of;  // shard file -> index into files_
  for (const auto& [tensor, file] : index["weight_map"].items()) {
    MOE_CHECK(file.is_string(), "index ", index_path, ": the shard of ", excerpt(tensor),
              " is not a file name");
    const std::string name = file.get<std::string>();
    MOE_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != "..",
              "index ", index_path, " names shard ", excerpt(name),
              ", which is not a file name in the folder");
    auto it = shard_of.find(name);
    if (it == shard_of.end()) {
      const std::string path = dir + "/" + name;
      MOE_CHECK(file_exists(path), "index ", index_path, " names shard ", name,
                ", which is missing");
      it = shard_of.emplace(name, w.files_.size()).first;
      w.files_.push_back(SafeTensorsFile::open(path));
    }
    MOE_CHECK(w.files_[it->second].has(tensor), "index ", index_path, " places tensor ",
              excerpt(tensor), " in ", name, ", which does not hold it");
    w.where_[tensor] = it->second;
  }
  for (size_t i = 0; i < w.files_.size(); ++i)
    for (const auto& e : w.files_[i].entries())
      MOE_CHECK(w.where_.count(e.name) && w.where_.at(e.name) == i, "shard ", w.files_[i].path(),
                " holds tensor ", excerpt(e.name), ", which ", index_path, " does not place there");
  return w;
}

std::vector<std::string> HfWeights::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : where_)
    out.push_back(name);
  return out;
}

const SafeTensorsFile::Entry& HfWeights::entry(const std::string& name) const {
  const auto it = where_.find(name);
  MOE_CHECK(it != where_.end(), "the Hugging Face weights have no tensor ", excerpt(name));
  return files_[it->second].entry(name);
}

void HfWeights::read_into(const std::string& name, Tensor dst) const {
  const auto it = where_.find(name);
  MOE_CHECK(it != where_.end(), "the Hugging Face weights have no tensor ", excerpt(name));
  files_[it->second].read_into(name, dst);
}

}  // namespace moe
