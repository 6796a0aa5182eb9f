#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/cpu/attention.h"
#include "core/check.h"
#include "core/rng.h"
#include "ops/attention.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

struct Dims {
  int64_t B, Tq, Tk, H, Hkv, D;
  int64_t q_numel() const { return B * Tq * H * D; }
  int64_t kv_numel() const { return B * Tk * Hkv * D; }
  int64_t probs_numel() const { return B * H * Tq * Tk; }
};

// Naive double attention: scores, causal mask, softmax, dropout, weighted sum of values.
void reference_attention(const Dims& d, const std::vector<float>& q, const std::vector<float>& k,
                         const std::vector<float>& v, double scale, float p, uint64_t key,
                         std::vector<double>& out, std::vector<double>& probs) {
  out.assign(d.q_numel(), 0.0);
  probs.assign(d.probs_numel(), 0.0);
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h) {
      const int64_t g = h / (d.H / d.Hkv);
      for (int64_t i = 0; i < d.Tq; ++i) {
        std::vector<double> s(d.Tk, -INFINITY);
        double max = -INFINITY;
        for (int64_t j = 0; j < d.Tk; ++j) {
          if (j > i + d.Tk - d.Tq) continue;
          double dot = 0;
          for (int64_t c = 0; c < d.D; ++c)
            dot += static_cast<double>(q[((b * d.Tq + i) * d.H + h) * d.D + c]) *
                   k[((b * d.Tk + j) * d.Hkv + g) * d.D + c];
          s[j] = scale * dot;
          max = std::max(max, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < d.Tk; ++j)
          sum += std::exp(s[j] - max);
        for (int64_t j = 0; j < d.Tk; ++j) {
          const int64_t idx = ((b * d.H + h) * d.Tq + i) * d.Tk + j;
          probs[idx] = std::exp(s[j] - max) / sum;
          const bool keep = rng_keep(key, idx, dropout_threshold(p));
          const double w = keep ? probs[idx] / (1.0 - p) : 0.0;
          for (int64_t c = 0; c < d.D; ++c)
            out[((b * d.Tq + i) * d.H + h) * d.D + c] +=
                w * v[((b * d.Tk + j) * d.Hkv + g) * d.D + c];
        }
      }
    }
}

struct ForwardResult {
  std::vector<float> out, probs;
};

ForwardResult run_forward(const Dims& d, std::vector<float>& q, std::vector<float>& k,
                          std::vector<float>& v, const ops::AttentionArgs& args) {
  ForwardResult r{std::vector<float>(d.q_numel()), std::vector<float>(d.probs_numel())};
  ops::attention_forward(cpu_tensor(r.out.data(), {d.B, d.Tq, d.H, d.D}),
                         cpu_tensor(r.probs.data(), {d.B, d.H, d.Tq, d.Tk}),
                         cpu_tensor(q.data(), {d.B, d.Tq, d.H, d.D}),
                         cpu_tensor(k.data(), {d.B, d.Tk, d.Hkv, d.D}),
                         cpu_tensor(v.data(), {d.B, d.Tk, d.Hkv, d.D}), args);
  return r;
}

TEST(AttentionTest, ForwardMatchesReferenceGqa) {
  for (float p : {0.0f, 0.3f}) {
    for (int64_t Tq : {6, 2}) {
      const Dims d{2, Tq, 6, 4, 2, 8};
      std::vector<float> q = random_vector<float>(d.q_numel(), 1, -2.0, 2.0);
      std::vector<float> k = random_vector<float>(d.kv_numel(), 2, -2.0, 2.0);
      std::vector<float> v = random_vector<float>(d.kv_numel(), 3);
      ops::AttentionArgs args;
      args.dropout = p;
      args.dropout_key = rng_key(42, 7);
      ForwardResult r = run_forward(d, q, k, v, args);
      std::vector<double> ref_out, ref_probs;
      reference_attention(d, q, k, v, 1.0 / std::sqrt(8.0), p, args.dropout_key, ref_out,
                          ref_probs);
      EXPECT_LE(rel_error(r.out, ref_out), 1e-5) << "p=" << p << " Tq=" << Tq;
      EXPECT_LE(rel_error(r.probs, ref_probs), 1e-5) << "p=" << p << " Tq=" << Tq;
    }
  }
}

TEST(AttentionTest, ExplicitScaleIsUsed) {
  const Dims d{1, 4, 4, 2, 1, 4};
  std::vector<float> q = random_vector<float>(d.q_numel(), 4, -2.0, 2.0);
  std::vector<float> k = random_vector<float>(d.kv_numel(), 5, -2.0, 2.0);
  std::vector<float> v = random_vector<float>(d.kv_numel(), 6);
  ops::AttentionArgs args;
  args.scale = 0.9f;
  ForwardResult r = run_forward(d, q, k, v, args);
  std::vector<double> ref_out, ref_probs;
  reference_attention(d, q, k, v, 0.9f, 0.0f, 0, ref_out, ref_probs);
  EXPECT_LE(rel_error(r.out, ref_out), 1e-5);
}

// Decoding: queries that are the last Tq of Tk positions must reproduce the last rows of a full
// causal run over all Tk positions.
TEST(AttentionTest, DecodeRowsMatchFullRun) {
  const Dims full{2, 7, 7, 4, 2, 8};
  std::vector<float> q = random_vector<float>(full.q_numel(), 7, -2.0, 2.0);
  std::vector<float> k = random_vector<float>(full.kv_numel(), 8, -2.0, 2.0);
  std::vector<float> v = random_vector<float>(full.kv_numel(), 9);
  ops::AttentionArgs args;
  ForwardResult r_full = run_forward(full, q, k, v, args);
  for (int64_t Tq : {1, 3}) {
    const Dims d{full.B, Tq, full.Tk, full.H, full.Hkv, full.D};
    std::vector<float> q_last, out_last, probs_last;
    const int64_t row = full.H * full.D;
    for (int64_t b = 0; b < d.B; ++b) {
      const int64_t first = (b * full.Tq + full.Tq - Tq) * row;
      q_last.insert(q_last.end(), q.begin() + first, q.begin() + first + Tq * row);
      out_last.insert(out_last.end(), r_full.out.begin() + first,
                      r_full.out.begin() + first + Tq * row);
      for (int64_t h = 0; h < d.H; ++h) {
        const int64_t p0 = ((b * full.H + h) * full.Tq + full.Tq - Tq) * full.Tk;
        probs_last.insert(probs_last.end(), r_full.probs.begin() + p0,
                          r_full.probs.begin() + p0 + Tq * full.Tk);
      }
    }
    ForwardResult r = run_forward(d, q_last, k, v, args);
    EXPECT_LE(rel_error(r.out, out_last), 1e-6) << "Tq=" << Tq;
    EXPECT_LE(rel_error(r.probs, probs_last), 1e-6) << "Tq=" << Tq;
  }
}

void check_gradients(const Dims& d, float p) {
  const uint64_t key = rng_key(3, 1);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.D)));
  std::vector<double> q = random_vector<double>(d.q_numel(), 11, -1.5, 1.5);
  std::vector<double> k = random_vector<double>(d.kv_numel(), 12, -1.5, 1.5);
  std::vector<double> v = random_vector<double>(d.kv_numel(), 13);
  std::vector<double> w = random_vector<double>(d.q_numel(), 14);
  auto f = [&](const std::vector<double>& qv, const std::vector<double>& kv,
               const std::vector<double>& vv) {
    std::vector<double> out(d.q_numel()), probs(d.probs_numel());
    cpu::attention_forward(out.data(), probs.data(), qv.data(), kv.data(), vv.data(), d.B, d.Tq,
                           d.Tk, d.H, d.Hkv, d.D, scale, p, key);
    return weighted_sum(out, w);
  };
  std::vector<double> out(d.q_numel()), probs(d.probs_numel());
  cpu::attention_forward(out.data(), probs.data(), q.data(), k.data(), v.data(), d.B, d.Tq, d.Tk,
                         d.H, d.Hkv, d.D, scale, p, key);
  std::vector<double> dq(d.q_numel(), 7.0), dk(d.kv_numel(), 7.0), dv(d.kv_numel(), 7.0),
      dprobs(d.probs_numel());
  cpu::attention_backward(dq.data(), dk.data(), dv.data(), dprobs.data(), w.data(), q.data(),
                          k.data(), v.data(), probs.data(), d.B, d.Tq, d.Tk, d.H, d.Hkv, d.D, scale,
                          p, key);
  EXPECT_LE(rel_error(dq, numeric_gradient([&](const auto& x) { return f(x, k, v); }, q)), 1e-6);
  EXPECT_LE(rel_error(dk, numeric_gradient([&](const auto& x) { return f(q, x, v); }, k)), 1e-6);
  EXPECT_LE(rel_error(dv, numeric_gradient([&](const auto& x) { return f(q, k, x); }, v)), 1e-6);
}

TEST(AttentionTest, BackwardMatchesFiniteDifferences) {
  check_gradients({2, 5, 5, 4, 2, 4}, 0.0f);
}

TEST(AttentionTest, BackwardMatchesFiniteDifferencesWithDropout) {
  const Dims d{2, 5, 5, 4, 2, 4};
  const uint64_t key = rng_key(3, 1);
  int dropped = 0;
  for (int64_t i = 0; i < d.probs_numel(); ++i)
    dropped += !rng_keep(key, i, dropout_threshold(0.3f));
  ASSERT_GT(dropped, 0);  // the check below must exercise dropped weights
  check_gradients(d, 0.3f);
}

TEST(AttentionTest, BackwardMatchesFiniteDifferencesDecode) {
  check_gradients({1, 3, 6, 4, 1, 4}, 0.0f);
  check_gradients({1, 3, 6, 2, 2, 4}, 0.3f);
}

TEST(AttentionTest, RejectsBadShapesAndArgs) {
  std::vector<float> buf(4096);
  float* p = buf.data();
  ops::AttentionArgs args;
  // H=3 is not a multiple of H_kv=2.
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 3, 4}), cpu_tensor(p, {1, 3, 4, 4}),
                                      cpu_tensor(p, {1, 4, 3, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), args),
               Error);
  // More queries than keys.
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 5, 2, 4}), cpu_tensor(p, {1, 2, 5, 4}),
                                      cpu_tensor(p, {1, 5, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), args),
               Error);
  // probs not (B, H, Tq, Tk).
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), args),
               Error);
  // k and v differ; head sizes differ.
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 2, 4, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 1, 4}), args),
               Error);
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 2, 4, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 8}),
                                      cpu_tensor(p, {1, 4, 2, 8}), args),
               Error);
  // I32 q.
  std::vector<int32_t> ints(64);
  EXPECT_THROW(
      ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 2, 4, 4}),
                             cpu_tensor(ints.data(), {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                             cpu_tensor(p, {1, 4, 2, 4}), args),
      Error);
  // Backward: dk shaped like q.
  EXPECT_THROW(ops::attention_backward(cpu_tensor(p, {1, 4, 4, 4}), cpu_tensor(p, {1, 4, 4, 4}),
                                       cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 4, 4}),
                                       cpu_tensor(p, {1, 4, 4, 4}), cpu_tensor(p, {1, 4, 4, 4}),
                                       cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                       cpu_tensor(p, {1, 4, 4, 4}), args),
               Error);
  // Dropout must be in [0, 1).
  args.dropout = 1.0f;
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 2, 4, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), args),
               Error);
}

}  // namespace
}  // namespace moe
