#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "generate/sampler.h"

using moe::SamplerArgs;

namespace {

const std::vector<float> kLogits = {0.3f, 2.0f, -1.0f, 1.2f, 1.2f, 0.0f, -0.5f, 0.9f};

// The distribution sample_token should draw from, computed independently: full sort, explicit
// top-k and nucleus cut-offs, in double.
std::vector<double> expected_distribution(const std::vector<float>& logits, const SamplerArgs& a) {
  const size_t v = logits.size();
  std::vector<double> p(v);
  for (size_t i = 0; i < v; ++i)
    p[i] = std::exp(static_cast<double>(logits[i]) / a.temperature);
  std::vector<size_t> order(v);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return p[x] > p[y]; });
  size_t k = a.top_k > 0 ? std::min<size_t>(a.top_k, v) : v;
  double mass = 0;
  for (size_t j = 0; j < k; ++j)
    mass += p[order[j]];
  size_t keep = 0;
  double cum = 0;
  while (keep < k && cum / mass < a.top_p)
    cum += p[order[keep++]];
  std::vector<double> q(v, 0.0);
  for (size_t j = 0; j < keep; ++j)
    q[order[j]] = p[order[j]] / cum;
  return q;
}

// Draws n tokens and returns Pearson's chi-square statistic against q over the kept tokens, and
// fails if any token outside q's support is drawn.
double chi_square(const std::vector<float>& logits, const SamplerArgs& a, int n, int* df) {
  std::vector<double> q = expected_distribution(logits, a);
  std::vector<int> count(logits.size(), 0);
  moe::Rng rng(moe::rng_key(1234));
  for (int i = 0; i < n; ++i)
    ++count[moe::sample_token(logits.data(), static_cast<int32_t>(logits.size()), a, rng)];
  double chi2 = 0;
  *df = -1;
  for (size_t i = 0; i < q.size(); ++i) {
    if (q[i] == 0) {
      EXPECT_EQ(count[i], 0) << "token " << i << " is outside the kept set";
      continue;
    }
    const double e = n * q[i];
    chi2 += (count[i] - e) * (count[i] - e) / e;
    ++*df;
  }
  return chi2;
}

// Upper 0.1% points of the chi-square distribution (df 1..7).
double chi2_critical_999(int df) {
  static const double table[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32};
  return table[df];
}

TEST(Sampler, GreedyIsArgmax) {
  moe::Rng rng(1);
  SamplerArgs a;
  a.temperature = 0.f;
  EXPECT_EQ(moe::sample_token(kLogits.data(), 8, a, rng), 1);
  EXPECT_EQ(rng.counter, 0u);
  // Ties go to the lower index.
  std::vector<float> tie = {0.f, 3.f, 3.f};
  EXPECT_EQ(moe::sample_token(tie.data(), 3, a, rng), 1);
}

TEST(Sampler, TopK1AndTinyTopPAreGreedy) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    moe::Rng rng(seed);
    SamplerArgs k1;
    k1.top_k = 1;
    EXPECT_EQ(moe::sample_token(kLogits.data(), 8, k1, rng), 1);
    SamplerArgs p0;
    p0.top_p = 1e-6f;
    p0.temperature = 2.0f;
    EXPECT_EQ(moe::sample_token(kLogits.data(), 8, p0, rng), 1);
  }
  // With a tie for the maximum, both truncations keep the lower index.
  std::vector<float> tie = {0.f, 3.f, 3.f};
  moe::Rng rng(9);
  SamplerArgs k1;
  k1.top_k = 1;
  EXPECT_EQ(moe::sample_token(tie.data(), 3, k1, rng), 1);
}

TEST(Sampler, FullDistributionFrequencies) {
  int df;
  double chi2 = chi_square(kLogits, SamplerArgs{}, 20000, &df);
  EXPECT_EQ(df, 7);
  EXPECT_LT(chi2, chi2_critical_999(df));
}

TEST(Sampler, TemperatureTopKFrequencies) {
  SamplerArgs a;
  a.temperature = 0.7f;
  a.top_k = 5;  // keeps 1, 3, 4 (tie kept together), 7, 0
  int df;
  double chi2 = chi_square(kLogits, a, 20000, &df);
  EXPECT_EQ(df, 4);
  EXPECT_LT(chi2, chi2_critical_999(df));
}

TEST(Sampler, TopKTopPFrequencies) {
  SamplerArgs a;
  a.temperature = 1.3f;
  a.top_k = 6;
  a.top_p = 0.8f;
  std::vector<double> q = expected_distribution(kLogits, a);
  // exp(l / 1.3) of the top 6: 4.66, 2.52, 2.52, 2.00, 1.26, 1.00; cumulative shares .33, .51,
  // .69, .84: the nucleus is the first 4.
  EXPECT_EQ(std::count_if(q.begin(), q.end(), [](double x) { return x > 0; }), 4);
  int df;
  double chi2 = chi_square(kLogits, a, 20000, &df);
  EXPECT_LT(chi2, chi2_critical_999(df));
}

TEST(Sampler, WrongDistributionIsDetected) {
  // The statistic separates distributions: draws at T=1 measured against T=0.7 must fail the bound.
  SamplerArgs drawn;
  SamplerArgs other;
  other.temperature = 0.7f;
  std::vector<double> q = expected_distribution(kLogits, other);
  std::vector<int> count(8, 0);
  moe::Rng rng(moe::rng_key(1234));
  for (int i = 0; i < 20000; ++i)
    ++count[moe::sample_token(kLogits.data(), 8, drawn, rng)];
  double chi2 = 0;
  for (size_t i = 0; i < 8; ++i)
    chi2 += (count[i] - 20000 * q[i]) * (count[i] - 20000 * q[i]) / (20000 * q[i]);
  EXPECT_GT(chi2, chi2_critical_999(7));
}

TEST(Sampler, DeterministicForFixedRng) {
  SamplerArgs a;
  a.top_k = 4;
  a.top_p = 0.95f;
  moe::Rng r1(77), r2(77), r3(78);
  std::vector<int32_t> s1, s2, s3;
  for (int i = 0; i < 200; ++i) {
    s1.push_back(moe::sample_token(kLogits.data(), 8, a, r1));
    s2.push_back(moe::sample_token(kLogits.data(), 8, a, r2));
    s3.push_back(moe::sample_token(kLogits.data(), 8, a, r3));
  }
  EXPECT_EQ(s1, s2);
  EXPECT_NE(s1, s3);
}

TEST(Sampler, MaskedLogitsAreNeverDrawn) {
  std::vector<float> l = {-INFINITY, 0.f, -INFINITY, 0.f};
  moe::Rng rng(5);
  for (int i = 0; i < 500; ++i) {
    int32_t t = moe::sample_token(l.data(), 4, SamplerArgs{}, rng);
    ASSERT_TRUE(t == 1 || t == 3) << t;
  }
}

TEST(Sampler, RejectsBadArguments) {
  moe::Rng rng(0);
  auto run = [&](SamplerArgs a) { moe::sample_token(kLogits.data(), 8, a, rng); };
  SamplerArgs a;
  a.temperature = -0.1f;
  EXPECT_THROW(run(a), moe::Error);
  a = SamplerArgs{};
  a.top_p = 0.f;
  EXPECT_THROW(run(a), moe::Error);
  a.top_p = 1.01f;
  EXPECT_THROW(run(a), moe::Error);
  a = SamplerArgs{};
  a.top_k = -1;
  EXPECT_THROW(run(a), moe::Error);
  EXPECT_THROW(moe::sample_token(kLogits.data(), 0, SamplerArgs{}, rng), moe::Error);
  std::vector<float> bad = {0.f, NAN};
  EXPECT_THROW(moe::sample_token(bad.data(), 2, SamplerArgs{}, rng), moe::Error);
  std::vector<float> masked = {-INFINITY, -INFINITY};
  EXPECT_THROW(moe::sample_token(masked.data(), 2, SamplerArgs{}, rng), moe::Error);
}

}  // namespace
