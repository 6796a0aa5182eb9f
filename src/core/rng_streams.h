// Every id that keeps one use of the random numbers apart from the others. A draw is a function of
// rng_key(parent key, id, indices...) (core/rng.h), so these values are part of what a run
// computes: changing one changes every result drawn from it and breaks the exact resume of runs
// saved before. A new use takes a new id; existing ids are never renumbered.
#pragma once
#include <cstdint>

namespace moe {

// Streams under the run's seed (train.seed): rng_key(seed, id, ...).
namespace rng_stream {
// Synthetic corpus (data.source = "synthetic"): its Markov chain and its token sequence, each a
// sequential Rng of rng_key(seed, id). They share values with kTrainBatch below, whose keys
// always carry two more indices (step, micro-step), so the keys differ.
inline constexpr uint64_t kSyntheticChain = 0;
inline constexpr uint64_t kSyntheticTokens = 1;
// Random training windows (data.sampling = "random"): rng_key(seed, kTrainBatch, step, micro).
inline constexpr uint64_t kTrainBatch = 1;
// Key of one training micro-step's forward and backward (dropout masks, router noise):
// ForwardContext::key = rng_key(seed, kStep, step, micro); layers split it by rng_site below.
inline constexpr uint64_t kStep = 2;
// The fixed evaluation batches on the training and validation splits; batch i of an
// evaluation samples its windows with rng_key(key, i) (train/evaluator.h).
inline constexpr uint64_t kEvalTrain = 3;
inline constexpr uint64_t kEvalVal = 4;
// Parameter initialisation: the ParamTable's seed is rng_key(seed, kInit).
inline constexpr uint64_t kInit = 5;
// Epoch orders of the tutorial's chunk sampling (data.sampling = "chunks"): epoch e is shuffled
// with rng_key(rng_key(seed, kTrainChunks), e).
inline constexpr uint64_t kTrainChunks = 6;
// Stochastic rounding of the bf16 weight copies (train.stochastic_rounding) after s optimizer
// steps: rng_key(seed, kWeightRounding, s).
inline constexpr uint64_t kWeightRounding = 7;
// `moe eval`'s random windows, under its --seed: rng_key(seed, kEvalCommand).
inline constexpr uint64_t kEvalCommand = 0xE7A1;
}  // namespace rng_stream

// Streams under another stream's key.
namespace rng_substream {
// Parameter `index` of the table is drawn from rng_key(init seed, kParamValues, index).
inline constexpr uint64_t kParamValues = 0x1A17;
// Router noise of evaluation batch i (model.router_noise_at_eval): that batch's forward key is
// rng_key(evaluation key, kEvalRouterNoise, i), the same at every evaluation.
inline constexpr uint64_t kEvalRouterNoise = 0x7015E;
}  // namespace rng_substream

// Random sites of one layer under a forward key: ForwardContext::site_key(layer, site) =
// rng_key(ForwardContext::key, layer, site).
namespace rng_site {
inline constexpr uint64_t kAttentionDropout = 1;          // on the attention probabilities
inline constexpr uint64_t kRouterNoise = 2;               // noisy top-k router's N(0, 1) draws
inline constexpr uint64_t kAttentionResidualDropout = 3;  // attention branch before the residual
inline constexpr uint64_t kFfnResidualDropout = 4;        // FFN / MoE branch before the residual
inline constexpr uint64_t kExpertDropout = 5;        // routed experts' output rows (expert_dropout)
inline constexpr uint64_t kSharedExpertDropout = 6;  // shared expert s: rng_key(site key, s)
}  // namespace rng_site

// `moe generate` samples tokens from the sequential Rng(rng_key(--seed)), with no id.

}  // namespace moe
