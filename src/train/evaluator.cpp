#include "train/evaluator.h"

#include <algorithm>

#include "core/rng.h"
#include "core/rng_streams.h"
#include "ops/elementwise.h"

namespace moe {

Evaluator::Evaluator(Model& model, Tensor tokens, Tensor targets)
    : model_(model),
      tokens_(tokens),
      targets_(targets),
      router_noise_(model.config().router_noise_at_eval) {}

ForwardContext Evaluator::context(int64_t batch, uint64_t key, float temperature) const {
  ForwardContext ctx;
  ctx.training = false;
  ctx.eval_router_noise = router_noise_;
  ctx.key = rng_key(key, rng_substream::kEvalRouterNoise, static_cast<uint64_t>(batch));
  ctx.batch = tokens_.size(0);
  ctx.seq = tokens_.size(1);
  ctx.router_temperature = temperature;
  return ctx;
}

void Evaluator::count_tokens(int64_t tokens) {
  const std::vector<std::vector<int32_t>> ids = model_.read_expert_ids();
  if (ids.empty()) return;
  token_ids_.resize(static_cast<size_t>(tokens));
  ops::copy(cpu_tensor(token_ids_.data(), Shape{tokens}), tokens_.prefix(Shape{tokens}));
  token_counts_.resize(ids.size());
  const size_t k = ids.front().size() / static_cast<size_t>(tokens);
  for (size_t l = 0; l < ids.size(); ++l)
    for (size_t slot = 0; slot < ids[l].size(); ++slot) {
      const auto expert = static_cast<uint64_t>(ids[l][slot]);
      const auto token = static_cast<uint32_t>(token_ids_[slot / k]);
      ++token_counts_[l][expert << 32 | token];
    }
}

void Evaluator::accumulate(EvalResult& r, int64_t rows, int64_t seq) {
  count_tokens(rows * seq);
  const ForwardStats stats = model_.read_stats();
  r.loss += stats.loss.ce * static_cast<double>(rows * seq);
  r.tokens += rows * seq;
  if (r.routing.empty()) {
    for (const MoELayerStats& s : stats.moe) {
      LayerRouting lr;
      lr.layer = s.layer;
      lr.expert_usage.assign(s.expert_fraction.size(), 0.0);
      r.routing.push_back(lr);
    }
  }
  for (size_t i = 0; i < stats.moe.size(); ++i) {
    const MoELayerStats& s = stats.moe[i];
    for (size_t e = 0; e < s.expert_fraction.size(); ++e)
      r.routing[i].expert_usage[e] += s.expert_fraction[e];
    r.routing[i].entropy += s.entropy;
    r.routing[i].aux_loss += s.aux_loss;
    r.routing[i].seq_aux_loss += s.seq_aux_loss;
    r.routing[i].dropped_fraction +=
        s.assignments ? static_cast<double>(s.dropped) / static_cast<double>(s.assignments) : 0.0;
  }
}

void Evaluator::finish(EvalResult& r, int64_t batches) {
  if (r.tokens > 0) r.loss /= static_cast<double>(r.tokens);
  for (size_t l = 0; l < r.routing.size() && l < token_counts_.size(); ++l) {
    LayerRouting& lr = r.routing[l];
    lr.top_tokens.assign(lr.expert_usage.size(), {});
    for (const auto& [key, count] : token_counts_[l])
      lr.top_tokens[key >> 32].emplace_back(static_cast<int32_t>(key & 0xffffffffu), count);
    for (auto& tokens : lr.top_tokens) {
      const size_t keep = std::min(tokens.size(), kTopTokens);
      std::partial_sort(tokens.begin(), tokens.begin() + static_cast<ptrdiff_t>(keep), tokens.end(),
                        [](const auto& a, const auto& b) {
                          return a.second != b.second ? a.second > b.second : a.first < b.first;
                        });
      tokens.resize(keep);
    }
  }
  token_counts_.clear();
  for (auto& lr : r.routing) {
    for (double& u : lr.expert_usage)
      u /= static_cast<double>(batches);
    lr.entropy /= static_cast<double>(batches);
    lr.aux_loss /= static_cast<double>(batches);
    lr.seq_aux_loss /= static_cast<double>(batches);
    lr.dropped_fraction /= static_cast<double>(batches);
  }
}

EvalResult Evaluator::random_windows(const BatchSampler& sampler, int64_t iters, uint64_t key,
                                     float temperature) {
  EvalResult r;
  for (int64_t i = 0; i < iters; ++i) {
    const ForwardContext ctx = context(i, key, temperature);
    sampler.sample(tokens_, targets_, rng_key(key, static_cast<uint64_t>(i)));
    model_.forward(ctx, tokens_, targets_);
    accumulate(r, ctx.batch, ctx.seq);
  }
  finish(r, iters);
  return r;
}

EvalResult Evaluator::contiguous(const BatchSampler& sampler, int64_t max_batches, uint64_t key,
                                 float temperature) {
  EvalResult r;
  const int64_t windows = sampler.num_contiguous_windows();
  const int64_t rows_per_batch = tokens_.size(0);
  int64_t batches = 0;
  for (int64_t first = 0; first < windows; first += rows_per_batch) {
    if (max_batches > 0 && batches >= max_batches) break;
    const int64_t rows = sampler.contiguous(tokens_, targets_, first);
    ForwardContext ctx = context(batches, key, temperature);
    ctx.batch = rows;
    Tensor tok = tokens_.prefix(Shape{rows, ctx.seq}), tgt = targets_.prefix(Shape{rows, ctx.seq});
    model_.forward(ctx, tok, tgt);
    accumulate(r, rows, ctx.seq);
    ++batches;
  }
  finish(r, batches);
  return r;
}

}  // namespace moe
