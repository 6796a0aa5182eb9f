// Drawing the next token from a row of logits: greedy, temperature, top-k and nucleus (top-p)
// sampling (Holtzman et al., "The Curious Case of Neural Text Degeneration", 2019).
#pragma once
#include <cstdint>

#include "core/rng.h"

namespace moe {

struct SamplerArgs {
  float temperature = 1.0f;  // 0 = greedy argmax
  int top_k = 0;             // keep the k most likely tokens; 0 = all
  float top_p = 1.0f;        // keep the smallest set with cumulative probability >= top_p
};

// Throws moe::Error for temperature < 0, top_k < 0 or top_p outside (0, 1].
void validate_sampler_args(const SamplerArgs& args);

// softmax(logits / temperature) in fp64, restricted to the top_k largest (ties to the lower index),
// then to the nucleus of the renormalised top-k distribution, renormalised again, and drawn with
// one rng.uniform(). Greedy decoding draws nothing from rng. logits: (vocab).
int32_t sample_token(const float* logits, int32_t vocab, const SamplerArgs& args, Rng& rng);

}  // namespace moe
