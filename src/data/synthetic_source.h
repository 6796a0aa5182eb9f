// Synthetic token streams for tests and smoke runs: no corpus needed, yet with structure a model
// can learn, so its loss visibly drops within a few hundred steps.
#pragma once
#include <cstdint>
#include <vector>

namespace moe {

// n_tokens tokens in [0, vocab_size) from a fixed random sparse Markov chain: every token has 2 or
// 3 likely successors (probabilities 0.7/0.3 or 0.6/0.3/0.1), and with probability 0.05 the next
// token is uniform instead, so every token occurs. The chain and the stream are pure functions of
// seed. The entropy rate is about 1 nat per token, far below the ln(vocab_size) of a uniform guess.
std::vector<int32_t> synthetic_tokens(int32_t vocab_size, int64_t n_tokens, uint64_t seed);

}  // namespace moe
