// Evaluation: mean loss over a fixed set of batches (the same batches at every eval, so evals
// are comparable), and the routing statistics of each MoE layer averaged over them. With
// router noise (model.router_noise_at_eval) batch i's noise comes from
// rng_key(key, rng_substream::kEvalRouterNoise, i): fixed too.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/batch_sampler.h"
#include "model/model.h"

namespace moe {

struct LayerRouting {
  int64_t layer = 0;
  std::vector<double> expert_usage;  // (E) share of assignments
  double entropy = 0.0;              // nats
  double dropped_fraction = 0.0;
  double aux_loss = 0.0;
  double seq_aux_loss = 0.0;
  // (E) for each expert the token ids routed to it most often over the evaluation's tokens,
  // (id, assignments), most frequent first (ties: lower id first), at most kTopTokens.
  std::vector<std::vector<std::pair<int32_t, int64_t>>> top_tokens;
};

// How many of its most frequent tokens an evaluation reports per expert.
inline constexpr size_t kTopTokens = 8;

struct EvalResult {
  double loss = 0.0;  // mean cross-entropy
  int64_t tokens = 0;
  std::vector<LayerRouting> routing;
};

class Evaluator {
 public:
  // tokens/targets: (B, T) I32 scratch tensors the batches are written into. Router noise follows
  // the model's router_noise_at_eval until set_router_noise says otherwise.
  Evaluator(Model& model, Tensor tokens, Tensor targets);
  void set_router_noise(bool on) { router_noise_ = on; }
  // `iters` random-window batches drawn with keys (key, i).
  EvalResult random_windows(const BatchSampler& sampler, int64_t iters, uint64_t key,
                            float temperature);
  // Non-overlapping block_size windows from the start, in order; max_batches <= 0: all. `key`
  // only seeds the router noise.
  EvalResult contiguous(const BatchSampler& sampler, int64_t max_batches, uint64_t key,
                        float temperature);

 private:
  Model& model_;
  Tensor tokens_, targets_;
  bool router_noise_;
  // The forward context of evaluation batch `batch` (key: the evaluation's key).
  ForwardContext context(int64_t batch, uint64_t key, float temperature) const;
  // Adds the statistics of the batch just run (read from the device: once per batch).
  void accumulate(EvalResult& r, int64_t rows, int64_t seq);
  // Adds the batch's (expert, token id) assignments of every MoE layer to token_counts_ (the
  // expert choices read from the device: one copy per MoE layer and batch). Counting on the host
  // over the evaluation's tokens keeps it small: at most N k distinct pairs per layer, where a
  // device-side (E, vocab) table would hold E x 50,257 counts per layer for GPT-2's vocabulary.
  void count_tokens(int64_t tokens);
  // [layer]: assignments per (expert << 32 | token id), for the evaluation under way.
  std::vector<std::unordered_map<uint64_t, int64_t>> token_counts_;
  std::vector<int32_t> token_ids_;  // host copy of the batch's token ids
  void finish(EvalResult& r, int64_t batches);
};

}  // namespace moe
