// Autoregressive text generation with a KV cache (batch 1): the prompt is prefilled in one
// forward, then every new token is fed alone against the cached keys and values.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/memory.h"
#include "generate/sampler.h"
#include "model/model.h"

namespace moe {

struct GenerateArgs {
  int64_t max_new_tokens = 200;
  SamplerArgs sampler;
  uint64_t seed = 1337;
  bool stop_at_eot = true;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // new tokens only (an end-of-text token that stopped it excluded)
  double decode_tokens_per_s = 0.0;  // tokens sampled from decode steps / decode time
  double prefill_ms = 0.0;           // time of the prompt's forward
  bool stopped_at_eot = false;
};

// Allocates what decoding needs on `model`: activations for (1, block_size) and the KV caches.
void allocate_for_generation(Model& model);

// The memory generation takes with a model of `config` (the same allocations on a measuring
// model: nothing is allocated).
MemoryUse generation_memory(const ModelConfig& config);

class Generator {
 public:
  // Allocates on the model (allocate_for_generation).
  explicit Generator(Model& model);

  // Generates up to args.max_new_tokens tokens after the prompt. An empty prompt starts from
  // eot_id when the tokenizer has one, else from token 0. on_token sees each new token as it is
  // sampled.
  GenerateResult generate(const std::vector<int32_t>& prompt, const GenerateArgs& args,
                          std::optional<int32_t> eot_id,
                          const std::function<void(int32_t)>& on_token = {});

  // The steps generate is made of. prefill restarts the cache: tokens take positions
  // [0, tokens.size()), at most block_size of them. decode appends one token at the next
  // position (the cache must not be full). Both return the logits (vocab_size) of the last
  // position, valid until the next call.
  const float* prefill(const std::vector<int32_t>& tokens);
  const float* decode(int32_t token);
  // Positions held in the KV cache.
  int64_t cached() const { return cached_; }

 private:
  const float* forward(const int32_t* tokens, int64_t count, int64_t pos_offset);

  Model& model_;
  std::vector<float> last_logits_;  // (V) host copy of the last position's logits
  int64_t cached_ = 0;
};

}  // namespace moe
