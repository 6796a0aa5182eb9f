// Model weights as Hugging Face stores them: one model.safetensors, or, above a size limit,
// shards model-00001-of-0000N.safetensors with model.safetensors.index.json
// ({"metadata": {"total_size": bytes}, "weight_map": {tensor: shard file}}), as transformers'
// save_pretrained writes them.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "model/safetensors.h"

namespace moe {

// transformers' default max_shard_size, "5GB" (decimal).
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000;

// Writes `tensors` (F32 CPU tensors) into DIR, floats stored as `floats`, in the given order: a
// shard closes before the tensor that would take it past max_shard_bytes, and a tensor larger
// than the limit is a shard of its own (transformers' rule). One shard is model.safetensors and
// needs no index.
void write_hf_weights(const std::string& dir,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      StoredDType floats, uint64_t max_shard_bytes);

// The weights of a Hugging Face folder, headers checked, nothing read yet.
class HfWeights {
 public:
  // DIR/model.safetensors.index.json and every shard it names, else DIR/model.safetensors. A
  // missing shard, a tensor the index places in a shard that lacks it, a tensor in two shards or
  // a corrupt header is an error naming the file.
  static HfWeights open(const std::string& dir);

  // Every tensor, by name (sorted).
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return where_.count(name) > 0; }
  const SafeTensorsFile::Entry& entry(const std::string& name) const;
  // As SafeTensorsFile::read_into (F16 and BF16 widen to F32).
  void read_into(const std::string& name, Tensor dst) const;

 private:
  std::vector<SafeTensorsFile> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

}  // namespace moe
