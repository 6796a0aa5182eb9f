#include "data/synthetic_source.h"

#include <algorithm>
#include <array>

#include "core/check.h"
#include "core/rng.h"
#include "core/rng_streams.h"

namespace moe {
namespace {

constexpr float kUniformProb = 0.05f;

struct Successors {
  std::array<int32_t, 3> token;
  std::array<float, 3> cumulative;  // cumulative probabilities, the last is 1
  int count;
};

}  // namespace

std::vector<int32_t> synthetic_tokens(int32_t vocab_size, int64_t n_tokens, uint64_t seed) {
  MOE_CHECK(vocab_size >= 2, "synthetic data needs a vocabulary of at least 2 tokens, got ",
            vocab_size);
  MOE_CHECK(n_tokens >= 0, "synthetic data token count must be >= 0, got ", n_tokens);

  Rng chain_rng(rng_key(seed, rng_stream::kSyntheticChain));
  std::vector<Successors> chain(static_cast<size_t>(vocab_size));
  for (Successors& s : chain) {
    s.count = std::min<int>(2 + static_cast<int>(chain_rng.below(2)), vocab_size);
    for (int j = 0; j < s.count; ++j) {
      // Distinct successors, so that each keeps its own probability.
      int32_t t;
      do {
        t = static_cast<int32_t>(chain_rng.below(static_cast<uint64_t>(vocab_size)));
      } while (std::find(s.token.begin(), s.token.begin() + j, t) != s.token.begin() + j);
      s.token[j] = t;
    }
    s.cumulative = s.count == 2 ? std::array<float, 3>{0.7f, 1.0f, 1.0f}
                                : std::array<float, 3>{0.6f, 0.9f, 1.0f};
  }

  Rng rng(rng_key(seed, rng_stream::kSyntheticTokens));
  std::vector<int32_t> tokens(static_cast<size_t>(n_tokens));
  int32_t cur = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab_size)));
  for (int64_t i = 0; i < n_tokens; ++i) {
    tokens[static_cast<size_t>(i)] = cur;
    if (rng.uniform() < kUniformProb) {
      cur = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab_size)));
      continue;
    }
    const Successors& s = chain[static_cast<size_t>(cur)];
    const float u = rng.uniform();
    int j = 0;
    while (j + 1 < s.count && u >= s.cumulative[j])
      ++j;
    cur = s.token[j];
  }
  return tokens;
}

}  // namespace moe
