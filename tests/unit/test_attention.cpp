#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/cpu/attention.h"
#include "core/check.h"
#include "core/rng.h"
#include "core/threads.h"
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
  cpu::AttentionDims kernel() const { return {B, Tq, Tk, H, Hkv, D}; }
  int64_t q_numel() const { return B * Tq * H * D; }
  int64_t kv_numel() const { return B * Tk * Hkv * D; }
  int64_t lse_numel() const { return B * H * Tq; }
  Shape q_shape() const { return {B, Tq, H, D}; }
  Shape kv_shape() const { return {B, Tk, Hkv, D}; }
  Shape lse_shape() const { return {B, H, Tq}; }
};

// The kernels work on tiles of 64 queries x 64 keys and pad the head size to whole SIMD vectors
// (16 floats, 8 doubles): these sizes cover one tile and several, partial tiles, head sizes that
// are not a multiple of the vector, grouped heads, queries that are the last Tq < Tk positions
// with an offset Tk - Tq that is not a multiple of the tile (so some rows of a tile see none of
// its keys), and a single position.
const std::vector<Dims> kShapes = {
    {2, 6, 6, 4, 2, 8}, {2, 2, 6, 4, 2, 8},   {1, 150, 150, 2, 1, 16},  {1, 37, 110, 4, 2, 12},
    {1, 1, 1, 2, 1, 4}, {2, 1, 70, 2, 2, 16}, {1, 130, 130, 1, 1, 128},
};

// Naive attention in double: the whole score matrix, causal mask, softmax, dropout with the mask
// of rng_keep at index ((b H + h) Tq + i) Tk + j, weighted sum of the values; lse is the
// log-sum-exp of each query's visible scaled scores.
template <typename T>
void reference_attention(const Dims& d, const std::vector<T>& q, const std::vector<T>& k,
                         const std::vector<T>& v, double scale, float p, uint64_t key,
                         std::vector<double>& out, std::vector<double>& lse) {
  out.assign(d.q_numel(), 0.0);
  lse.assign(d.lse_numel(), 0.0);
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h) {
      const int64_t g = h / (d.H / d.Hkv);
      for (int64_t i = 0; i < d.Tq; ++i) {
        const int64_t visible = i + d.Tk - d.Tq + 1;
        std::vector<double> s(visible);
        double max = -INFINITY;
        for (int64_t j = 0; j < visible; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < d.D; ++c)
            dot += static_cast<double>(q[((b * d.Tq + i) * d.H + h) * d.D + c]) *
                   static_cast<double>(k[((b * d.Tk + j) * d.Hkv + g) * d.D + c]);
          s[j] = scale * dot;
          max = std::max(max, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < visible; ++j)
          sum += std::exp(s[j] - max);
        lse[(b * d.H + h) * d.Tq + i] = max + std::log(sum);
        for (int64_t j = 0; j < visible; ++j) {
          const int64_t index = ((b * d.H + h) * d.Tq + i) * d.Tk + j;
          const bool keep = rng_keep(key, index, dropout_threshold(p));
          const double w = keep ? std::exp(s[j] - max) / sum / (1.0 - p) : 0.0;
          for (int64_t c = 0; c < d.D; ++c)
            out[((b * d.Tq + i) * d.H + h) * d.D + c] +=
                w * static_cast<double>(v[((b * d.Tk + j) * d.Hkv + g) * d.D + c]);
        }
      }
    }
}

struct Inputs {
  std::vector<float> q, k, v;
};

Inputs random_inputs(const Dims& d, uint32_t seed) {
  return {random_vector<float>(d.q_numel(), seed, -2.0, 2.0),
          random_vector<float>(d.kv_numel(), seed + 1, -2.0, 2.0),
          random_vector<float>(d.kv_numel(), seed + 2)};
}

struct ForwardResult {
  std::vector<float> out, lse;
};

ForwardResult run_forward(const Dims& d, Inputs& in, const ops::AttentionArgs& args) {
  ForwardResult r{std::vector<float>(d.q_numel()), std::vector<float>(d.lse_numel())};
  ops::attention_forward(
      cpu_tensor(r.out.data(), d.q_shape()), cpu_tensor(r.lse.data(), d.lse_shape()),
      cpu_tensor(in.q.data(), d.q_shape()), cpu_tensor(in.k.data(), d.kv_shape()),
      cpu_tensor(in.v.data(), d.kv_shape()), args);
  return r;
}

std::string describe(const Dims& d, float p) {
  return "B=" + std::to_string(d.B) + " Tq=" + std::to_string(d.Tq) +
         " Tk=" + std::to_string(d.Tk) + " H=" + std::to_string(d.H) +
         " Hkv=" + std::to_string(d.Hkv) + " D=" + std::to_string(d.D) + " p=" + std::to_string(p);
}

TEST(AttentionTest, ForwardMatchesReference) {
  for (const Dims& d : kShapes)
    for (float p : {0.0f, 0.3f}) {
      Inputs in = random_inputs(d, 1);
      ops::AttentionArgs args;
      args.dropout = p;
      args.dropout_key = rng_key(42, 7);
      const ForwardResult r = run_forward(d, in, args);
      std::vector<double> ref_out, ref_lse;
      reference_attention(d, in.q, in.k, in.v, 1.0 / std::sqrt(static_cast<double>(d.D)), p,
                          args.dropout_key, ref_out, ref_lse);
      EXPECT_LE(rel_error(r.out, ref_out), 1e-5) << describe(d, p);
      EXPECT_LE(rel_error(r.lse, ref_lse), 1e-6) << describe(d, p);
    }
}

// The fp64 kernels (what the finite-difference checks run) agree with the naive attention to
// rounding.
TEST(AttentionTest, Fp64ForwardMatchesReferenceTightly) {
  for (const Dims& d : kShapes) {
    const float p = 0.2f, scale = 0.3f;
    const uint64_t key = rng_key(8, 1);
    const auto q = random_vector<double>(d.q_numel(), 4, -2.0, 2.0);
    const auto k = random_vector<double>(d.kv_numel(), 5, -2.0, 2.0);
    const auto v = random_vector<double>(d.kv_numel(), 6);
    std::vector<double> out(d.q_numel()), lse(d.lse_numel()), ref_out, ref_lse;
    cpu::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), d.kernel(),
                           {scale, p, key});
    reference_attention(d, q, k, v, scale, p, key, ref_out, ref_lse);
    EXPECT_LE(rel_error(out, ref_out), 1e-12) << describe(d, p);
    EXPECT_LE(rel_error(lse, ref_lse), 1e-12) << describe(d, p);
  }
}

TEST(AttentionTest, ExplicitScaleIsUsed) {
  const Dims d{1, 4, 4, 2, 1, 4};
  Inputs in = random_inputs(d, 4);
  ops::AttentionArgs args;
  args.scale = 0.9f;
  const ForwardResult r = run_forward(d, in, args);
  std::vector<double> ref_out, ref_lse;
  reference_attention(d, in.q, in.k, in.v, 0.9f, 0.0f, 0, ref_out, ref_lse);
  EXPECT_LE(rel_error(r.out, ref_out), 1e-5);
  EXPECT_LE(rel_error(r.lse, ref_lse), 1e-6);
}

// Decoding: queries that are the last Tq of Tk positions must reproduce the last rows of a full
// causal run over all Tk positions (here across a tile boundary).
TEST(AttentionTest, DecodeRowsMatchFullRun) {
  const Dims full{2, 70, 70, 4, 2, 8};
  Inputs in = random_inputs(full, 7);
  ops::AttentionArgs args;
  const ForwardResult r_full = run_forward(full, in, args);
  for (int64_t Tq : {1, 3, 9}) {
    const Dims d{full.B, Tq, full.Tk, full.H, full.Hkv, full.D};
    Inputs last{{}, in.k, in.v};
    std::vector<float> out_last, lse_last;
    const int64_t row = full.H * full.D;
    for (int64_t b = 0; b < d.B; ++b) {
      const int64_t first = (b * full.Tq + full.Tq - Tq) * row;
      last.q.insert(last.q.end(), in.q.begin() + first, in.q.begin() + first + Tq * row);
      out_last.insert(out_last.end(), r_full.out.begin() + first,
                      r_full.out.begin() + first + Tq * row);
      for (int64_t h = 0; h < d.H; ++h) {
        const int64_t l0 = (b * full.H + h) * full.Tq + full.Tq - Tq;
        lse_last.insert(lse_last.end(), r_full.lse.begin() + l0, r_full.lse.begin() + l0 + Tq);
      }
    }
    const ForwardResult r = run_forward(d, last, args);
    EXPECT_LE(rel_error(r.out, out_last), 1e-6) << "Tq=" << Tq;
    EXPECT_LE(rel_error(r.lse, lse_last), 1e-6) << "Tq=" << Tq;
  }
}

struct Gradients {
  std::vector<double> dq, dk, dv;
};

// fp64 forward and backward of sum(w * out) through the CPU kernels.
Gradients fp64_gradients(const Dims& d, const std::vector<double>& q, const std::vector<double>& k,
                         const std::vector<double>& v, const std::vector<double>& w, float scale,
                         float p, uint64_t key) {
  std::vector<double> out(d.q_numel()), lse(d.lse_numel());
  cpu::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), d.kernel(),
                         {scale, p, key});
  // Filled with garbage: the backward assigns its outputs.
  Gradients g{std::vector<double>(d.q_numel(), 7.0), std::vector<double>(d.kv_numel(), 7.0),
              std::vector<double>(d.kv_numel(), 7.0)};
  cpu::attention_backward(g.dq.data(), g.dk.data(), g.dv.data(), w.data(), q.data(), k.data(),
                          v.data(), out.data(), lse.data(), d.kernel(), {scale, p, key});
  return g;
}

// Finite differences of sum(w * out) against the fp64 backward (dv only with value_only).
void check_gradients(const Dims& d, float p, bool value_only) {
  const uint64_t key = rng_key(3, 1);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.D)));
  const auto q = random_vector<double>(d.q_numel(), 11, -1.5, 1.5);
  const auto k = random_vector<double>(d.kv_numel(), 12, -1.5, 1.5);
  const auto v = random_vector<double>(d.kv_numel(), 13);
  const auto w = random_vector<double>(d.q_numel(), 14);
  auto f = [&](const std::vector<double>& qv, const std::vector<double>& kv,
               const std::vector<double>& vv) {
    std::vector<double> out(d.q_numel()), lse(d.lse_numel());
    cpu::attention_forward(out.data(), lse.data(), qv.data(), kv.data(), vv.data(), d.kernel(),
                           {scale, p, key});
    return weighted_sum(out, w);
  };
  const Gradients g = fp64_gradients(d, q, k, v, w, scale, p, key);
  if (!value_only) {
    EXPECT_LE(rel_error(g.dq, numeric_gradient([&](const auto& x) { return f(x, k, v); }, q)), 1e-6)
        << describe(d, p);
    EXPECT_LE(rel_error(g.dk, numeric_gradient([&](const auto& x) { return f(q, x, v); }, k)), 1e-6)
        << describe(d, p);
  }
  EXPECT_LE(rel_error(g.dv, numeric_gradient([&](const auto& x) { return f(q, k, x); }, v)), 1e-6)
      << describe(d, p);
}

void check_gradients(const Dims& d, float p) {
  check_gradients(d, p, false);
}

void check_value_gradient(const Dims& d, float p) {
  check_gradients(d, p, true);
}

TEST(AttentionTest, BackwardMatchesFiniteDifferences) {
  check_gradients({2, 5, 5, 4, 2, 4}, 0.0f);
  check_gradients({2, 5, 5, 2, 2, 4}, 0.0f);
}

TEST(AttentionTest, BackwardMatchesFiniteDifferencesWithDropout) {
  const Dims d{2, 5, 5, 4, 2, 4};
  const uint64_t key = rng_key(3, 1);
  int dropped = 0;
  for (int64_t i = 0; i < d.B * d.H * d.Tq * d.Tk; ++i)
    dropped += !rng_keep(key, i, dropout_threshold(0.3f));
  ASSERT_GT(dropped, 0);  // the check below must exercise dropped weights
  check_gradients(d, 0.3f);
}

TEST(AttentionTest, BackwardMatchesFiniteDifferencesDecode) {
  check_gradients({1, 3, 6, 4, 1, 4}, 0.0f);
  check_gradients({1, 3, 6, 2, 2, 4}, 0.3f);
}

// Several tiles with partial last tiles, a head size that is not a multiple of the SIMD vector,
// and an offset Tk - Tq that does not fall on a tile boundary.
TEST(AttentionTest, BackwardMatchesFiniteDifferencesAcrossTiles) {
  check_gradients({1, 70, 70, 2, 1, 3}, 0.0f);
  check_gradients({1, 45, 110, 2, 1, 5}, 0.2f);
}

double max_abs(const std::vector<double>& x) {
  double m = 0;
  for (double e : x)
    m = std::max(m, std::abs(e));
  return m;
}

// One position: the softmax over a single key is 1 whatever q and k are, so dq and dk are 0
// (up to rounding; a relative error against 0 means nothing) and out = m v gives dv = m dout.
TEST(AttentionTest, SinglePositionGradients) {
  for (float p : {0.0f, 0.3f}) {
    const Dims d{2, 1, 1, 4, 2, 6};
    check_value_gradient(d, p);
    const Gradients g = fp64_gradients(
        d, random_vector<double>(d.q_numel(), 1), random_vector<double>(d.kv_numel(), 2),
        random_vector<double>(d.kv_numel(), 3), random_vector<double>(d.q_numel(), 4), 0.5f, p,
        rng_key(3, 1));
    EXPECT_LE(max_abs(g.dq), 1e-15) << describe(d, p);
    EXPECT_LE(max_abs(g.dk), 1e-15) << describe(d, p);
  }
}

// The float kernels (vectorised exp, float accumulation) against the fp64 ones.
TEST(AttentionTest, FloatBackwardMatchesFp64) {
  for (const Dims& d : kShapes)
    for (float p : {0.0f, 0.3f}) {
      Inputs in = random_inputs(d, 21);
      auto dout = random_vector<float>(d.q_numel(), 24);
      ops::AttentionArgs args;
      args.dropout = p;
      args.dropout_key = rng_key(6, 6);
      const ForwardResult r = run_forward(d, in, args);
      std::vector<float> dq(d.q_numel()), dk(d.kv_numel()), dv(d.kv_numel());
      std::vector<float> out = r.out, lse = r.lse;
      ops::attention_backward(
          cpu_tensor(dq.data(), d.q_shape()), cpu_tensor(dk.data(), d.kv_shape()),
          cpu_tensor(dv.data(), d.kv_shape()), cpu_tensor(dout.data(), d.q_shape()),
          cpu_tensor(in.q.data(), d.q_shape()), cpu_tensor(in.k.data(), d.kv_shape()),
          cpu_tensor(in.v.data(), d.kv_shape()), cpu_tensor(out.data(), d.q_shape()),
          cpu_tensor(lse.data(), d.lse_shape()), args);
      const auto wide = [](const std::vector<float>& x) {
        return std::vector<double>(x.begin(), x.end());
      };
      const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.D)));
      const Gradients ref = fp64_gradients(d, wide(in.q), wide(in.k), wide(in.v), wide(dout), scale,
                                           p, args.dropout_key);
      if (d.Tk > 1) {
        EXPECT_LE(rel_error(dq, ref.dq), 1e-5) << describe(d, p);
        EXPECT_LE(rel_error(dk, ref.dk), 1e-5) << describe(d, p);
      } else {  // 0 up to rounding (SinglePositionGradients)
        EXPECT_LE(max_abs(wide(dq)), 1e-6) << describe(d, p);
        EXPECT_LE(max_abs(wide(dk)), 1e-6) << describe(d, p);
      }
      EXPECT_LE(rel_error(dv, ref.dv), 1e-5) << describe(d, p);
    }
}

struct Pass {
  std::vector<float> out, lse, dq, dk, dv;
};

Pass run_pass(const Dims& d, Inputs& in, std::vector<float>& dout, const ops::AttentionArgs& args) {
  ForwardResult r = run_forward(d, in, args);
  Pass pass{r.out, r.lse, std::vector<float>(d.q_numel()), std::vector<float>(d.kv_numel()),
            std::vector<float>(d.kv_numel())};
  ops::attention_backward(
      cpu_tensor(pass.dq.data(), d.q_shape()), cpu_tensor(pass.dk.data(), d.kv_shape()),
      cpu_tensor(pass.dv.data(), d.kv_shape()), cpu_tensor(dout.data(), d.q_shape()),
      cpu_tensor(in.q.data(), d.q_shape()), cpu_tensor(in.k.data(), d.kv_shape()),
      cpu_tensor(in.v.data(), d.kv_shape()), cpu_tensor(pass.out.data(), d.q_shape()),
      cpu_tensor(pass.lse.data(), d.lse_shape()), args);
  return pass;
}

// Work is split over threads by (batch, head, query tile) forward and (batch, key/value head)
// backward, every sum in a fixed order: the results are the same bits for any thread count.
TEST(AttentionTest, SameBitsForAnyThreadCount) {
  const Dims d{2, 150, 150, 4, 2, 16};
  Inputs in = random_inputs(d, 31);
  auto dout = random_vector<float>(d.q_numel(), 34);
  ops::AttentionArgs args;
  args.dropout = 0.1f;
  args.dropout_key = rng_key(2, 9);
  const int threads = num_threads();
  std::vector<Pass> passes;
  for (int n : {1, 2, 3}) {
    set_num_threads(n);
    passes.push_back(run_pass(d, in, dout, args));
  }
  set_num_threads(threads);
  for (size_t i = 1; i < passes.size(); ++i) {
    EXPECT_EQ(passes[i].out, passes[0].out);
    EXPECT_EQ(passes[i].lse, passes[0].lse);
    EXPECT_EQ(passes[i].dq, passes[0].dq);
    EXPECT_EQ(passes[i].dk, passes[0].dk);
    EXPECT_EQ(passes[i].dv, passes[0].dv);
  }
}

TEST(AttentionTest, RejectsBadShapesAndArgs) {
  std::vector<float> buf(4096);
  float* p = buf.data();
  ops::AttentionArgs args;
  // H=3 is not a multiple of H_kv=2.
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 3, 4}), cpu_tensor(p, {1, 3, 4}),
                                      cpu_tensor(p, {1, 4, 3, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), args),
               Error);
  // More queries than keys.
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 5, 2, 4}), cpu_tensor(p, {1, 2, 5}),
                                      cpu_tensor(p, {1, 5, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), args),
               Error);
  // lse not (B, H, Tq).
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2}),
                                      cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), args),
               Error);
  // k and v differ; head sizes differ.
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 1, 4}), args),
               Error);
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 8}),
                                      cpu_tensor(p, {1, 4, 2, 8}), args),
               Error);
  // I32 q.
  std::vector<int32_t> ints(64);
  EXPECT_THROW(
      ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 2, 4}),
                             cpu_tensor(ints.data(), {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                             cpu_tensor(p, {1, 4, 2, 4}), args),
      Error);
  // Backward (H=4, H_kv=2): each call below differs from a valid one in one argument.
  std::vector<float> grads(4096);
  const Tensor q = cpu_tensor(p, {1, 4, 4, 4}), kv = cpu_tensor(p, {1, 4, 2, 4}),
               lse = cpu_tensor(p, {1, 4, 4});
  const Tensor dq = cpu_tensor(grads.data(), {1, 4, 4, 4}),
               dkv = cpu_tensor(grads.data() + 64, {1, 4, 2, 4});
  EXPECT_NO_THROW(ops::attention_backward(dq, dkv, dkv, q, q, kv, kv, q, lse, args));
  // dk shaped like q.
  EXPECT_THROW(ops::attention_backward(dq, dq, dkv, q, q, kv, kv, q, lse, args), Error);
  // Saved output or lse of the wrong shape.
  EXPECT_THROW(ops::attention_backward(dq, dkv, dkv, q, q, kv, kv, kv, lse, args), Error);
  EXPECT_THROW(
      ops::attention_backward(dq, dkv, dkv, q, q, kv, kv, q, cpu_tensor(p, {1, 4, 3}), args),
      Error);
  // Dropout must be in [0, 1).
  args.dropout = 1.0f;
  EXPECT_THROW(ops::attention_forward(cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), cpu_tensor(p, {1, 4, 2, 4}),
                                      cpu_tensor(p, {1, 4, 2, 4}), args),
               Error);
}

}  // namespace
}  // namespace moe
