#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "core/check.h"
#include "data/synthetic_source.h"

namespace {

TEST(SyntheticSource, DeterministicAndInRange) {
  std::vector<int32_t> a = moe::synthetic_tokens(50, 10000, 7);
  std::vector<int32_t> b = moe::synthetic_tokens(50, 10000, 7);
  std::vector<int32_t> c = moe::synthetic_tokens(50, 10000, 8);
  ASSERT_EQ(a.size(), 10000u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (int32_t t : a)
    ASSERT_TRUE(t >= 0 && t < 50) << t;
  // A shorter stream from the same seed is a prefix of a longer one.
  std::vector<int32_t> p = moe::synthetic_tokens(50, 100, 7);
  EXPECT_TRUE(std::equal(p.begin(), p.end(), a.begin()));
}

TEST(SyntheticSource, EveryTokenOccurs) {
  std::vector<int32_t> a = moe::synthetic_tokens(64, 50000, 1);
  std::vector<int> count(64, 0);
  for (int32_t t : a)
    ++count[t];
  for (int v = 0; v < 64; ++v)
    EXPECT_GT(count[v], 0) << "token " << v;
}

// The learnable structure: each token's three most frequent successors carry almost all of its
// transitions, so the conditional entropy is far below ln(V).
TEST(SyntheticSource, SuccessorsAreSparse) {
  const int32_t vocab = 32;
  std::vector<int32_t> a = moe::synthetic_tokens(vocab, 200000, 3);
  std::vector<std::map<int32_t, int>> next(vocab);
  for (size_t i = 0; i + 1 < a.size(); ++i)
    ++next[a[i]][a[i + 1]];
  double cond_entropy = 0;
  for (int32_t v = 0; v < vocab; ++v) {
    std::vector<int> counts;
    int total = 0;
    for (const auto& [t, c] : next[v])
      counts.push_back(c), total += c;
    ASSERT_GT(total, 0);
    std::sort(counts.rbegin(), counts.rend());
    int top3 = 0;
    for (size_t j = 0; j < std::min<size_t>(3, counts.size()); ++j)
      top3 += counts[j];
    // 0.95 of the mass goes to the successors, plus their share of the uniform 0.05.
    EXPECT_GT(static_cast<double>(top3) / total, 0.93) << "token " << v;
    for (int c : counts) {
      double p = static_cast<double>(c) / total;
      cond_entropy -= p * std::log(p) * total / static_cast<double>(a.size() - 1);
    }
  }
  EXPECT_LT(cond_entropy, 0.5 * std::log(static_cast<double>(vocab)));
}

TEST(SyntheticSource, TinyVocabularyAndEmpty) {
  std::vector<int32_t> a = moe::synthetic_tokens(2, 1000, 0);
  for (int32_t t : a)
    ASSERT_TRUE(t == 0 || t == 1);
  EXPECT_TRUE(moe::synthetic_tokens(10, 0, 0).empty());
}

TEST(SyntheticSource, RejectsBadArguments) {
  EXPECT_THROW(moe::synthetic_tokens(1, 10, 0), moe::Error);
  EXPECT_THROW(moe::synthetic_tokens(0, 10, 0), moe::Error);
  EXPECT_THROW(moe::synthetic_tokens(10, -1, 0), moe::Error);
}

}  // namespace
