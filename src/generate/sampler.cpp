#include "generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/check.h"

namespace moe {

void validate_sampler_args(const SamplerArgs& args) {
  MOE_CHECK(std::isfinite(args.temperature) && args.temperature >= 0.0f, "sampling temperature ",
            args.temperature, " must be >= 0 (0 = greedy)");
  MOE_CHECK(args.top_k >= 0, "sampling top_k ", args.top_k, " must be >= 0 (0 = off)");
  MOE_CHECK(args.top_p > 0.0f && args.top_p <= 1.0f, "sampling top_p ", args.top_p,
            " must be in (0, 1]");
}

int32_t sample_token(const float* logits, int32_t vocab, const SamplerArgs& args, Rng& rng) {
  validate_sampler_args(args);
  MOE_CHECK(logits != nullptr && vocab > 0, "sample_token: empty logits (vocab ", vocab, ")");
  int32_t best = 0;
  for (int32_t i = 0; i < vocab; ++i) {
    MOE_CHECK(!std::isnan(logits[i]) && logits[i] != INFINITY, "sample_token: logit ", i, " is ",
              logits[i]);
    if (logits[i] > logits[best]) best = i;
  }
  MOE_CHECK(logits[best] != -INFINITY, "sample_token: every logit is -inf");
  if (args.temperature == 0.0f) return best;

  const double max_logit = logits[best];
  const double inv_t = 1.0 / static_cast<double>(args.temperature);
  std::vector<double> prob(static_cast<size_t>(vocab));
  for (int32_t i = 0; i < vocab; ++i)
    prob[i] = std::exp((logits[i] - max_logit) * inv_t);

  // Candidates in decreasing probability, ties to the lower index. Without truncation the
  // unsorted vocabulary is the candidate list: the draw is the same distribution, faster.
  std::vector<int32_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  size_t kept = order.size();
  const bool truncate_k = args.top_k > 0 && args.top_k < vocab;
  if (truncate_k || args.top_p < 1.0f) {
    const auto by_prob = [&](int32_t a, int32_t b) {
      return prob[a] > prob[b] || (prob[a] == prob[b] && a < b);
    };
    if (truncate_k) {
      kept = static_cast<size_t>(args.top_k);
      std::partial_sort(order.begin(), order.begin() + kept, order.end(), by_prob);
    } else {
      std::sort(order.begin(), order.end(), by_prob);
    }
  }
  double mass = 0;
  for (size_t j = 0; j < kept; ++j)
    mass += prob[order[j]];
  if (args.top_p < 1.0f) {
    // The smallest prefix whose share of the top-k mass reaches top_p.
    const double target = static_cast<double>(args.top_p) * mass;
    double cum = 0;
    size_t j = 0;
    while (j < kept) {
      cum += prob[order[j++]];
      if (cum >= target) break;
    }
    kept = j;
    mass = cum;
  }

  const double u = static_cast<double>(rng.uniform()) * mass;
  double cum = 0;
  for (size_t j = 0; j < kept; ++j) {
    cum += prob[order[j]];
    if (u < cum) return order[j];
  }
  // Rounding can leave u just above the last partial sum.
  return order[kept - 1];
}

}  // namespace moe
