// Mixed precision: the fp32 <-> bf16 roundings (core/half.h, ops/cast.h) and the linear layers
// with bf16 GEMM inputs (ops/matmul.h, ops/grouped_gemm.h) on the CPU backend.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/half.h"
#include "core/rng.h"
#include "model/model.h"
#include "ops/cast.h"
#include "ops/elementwise.h"
#include "ops/grouped_gemm.h"
#include "ops/matmul.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::random_vector;

uint16_t bf16_of_bits(uint32_t bits) {
  return fp32_to_bf16(std::bit_cast<float>(bits));
}

TEST(Bf16, NearestEvenAtTiesSubnormalsAndOverflow) {
  // Ties between two bf16 neighbours go to the even one, down or up, for either sign.
  EXPECT_EQ(bf16_of_bits(0x3F808000u), 0x3F80);
  EXPECT_EQ(bf16_of_bits(0x3F818000u), 0x3F82);
  EXPECT_EQ(bf16_of_bits(0xBF818000u), 0xBF82);
  EXPECT_EQ(bf16_of_bits(0x3F808001u), 0x3F81);  // just past the tie: up
  EXPECT_EQ(bf16_of_bits(0x3F807FFFu), 0x3F80);  // just below it: down
  // fp32 subnormals round like any other value: bf16 keeps fp32's exponent range.
  EXPECT_EQ(bf16_of_bits(0x00000001u), 0x0000);
  EXPECT_EQ(bf16_of_bits(0x00008000u), 0x0000);  // tie: to even (zero)
  EXPECT_EQ(bf16_of_bits(0x00018000u), 0x0002);  // tie: to even (up)
  EXPECT_EQ(bf16_of_bits(0x00008001u), 0x0001);  // the smallest bf16 subnormal
  EXPECT_EQ(bf16_of_bits(0x80008000u), 0x8000);  // -0 keeps its sign
  EXPECT_EQ(bf16_of_bits(0x007FFFFFu),
            0x0080);  // the largest subnormal rounds to the smallest normal
  // Overflow: the largest finite bf16 stays; past half an ulp above it, infinity.
  EXPECT_EQ(bf16_of_bits(0x7F7F0000u), 0x7F7F);
  EXPECT_EQ(bf16_of_bits(0x7F7F7FFFu), 0x7F7F);
  EXPECT_EQ(bf16_of_bits(0x7F7F8000u), 0x7F80);  // a tie with an odd neighbour: up, to infinity
  EXPECT_EQ(bf16_of_bits(0xFF7F8000u), 0xFF80);
  // Infinities stay; NaNs stay NaN (quiet), sign kept, even with a payload only in dropped bits.
  EXPECT_EQ(bf16_of_bits(0x7F800000u), 0x7F80);
  EXPECT_EQ(bf16_of_bits(0xFF800000u), 0xFF80);
  EXPECT_EQ(bf16_of_bits(0x7FC00000u), 0x7FC0);
  EXPECT_EQ(bf16_of_bits(0xFF800001u), 0xFFC0);
  EXPECT_EQ(bf16_of_bits(0x7F80FFFFu), 0x7FC0);
}

// Over all 2^16 random inputs, stochastic rounding gives the lower neighbour or the upper one, the
// upper exactly (dropped bits) times: the average is x itself (unbiased), exactly.
TEST(Bf16, StochasticRoundingIsUnbiasedAndStaysBetweenNeighbours) {
  for (uint32_t bits : {0x3F80C001u, 0x3F80FFFFu, 0xC0490FDBu, 0x00012345u, 0x7F7F0001u}) {
    const float x = std::bit_cast<float>(bits);
    const uint16_t down = static_cast<uint16_t>(bits >> 16), up = static_cast<uint16_t>(down + 1);
    int64_t ups = 0;
    for (uint32_t r = 0; r < 65536; ++r) {
      const uint16_t h = fp32_to_bf16_stochastic(x, r);
      ASSERT_TRUE(h == down || h == up) << bits << " " << r;
      ups += h == up;
    }
    EXPECT_EQ(ups, bits & 0xFFFF) << bits;
    // Only the low 16 random bits count.
    EXPECT_EQ(fp32_to_bf16_stochastic(x, 0xABCD0000u), down);
  }
  // Representable values, infinities and NaNs come through unchanged by any random bits.
  for (uint32_t r : {0u, 1u, 0x8000u, 0xFFFFu}) {
    EXPECT_EQ(fp32_to_bf16_stochastic(1.0f, r), 0x3F80);
    EXPECT_EQ(fp32_to_bf16_stochastic(-0.0f, r), 0x8000);
    EXPECT_EQ(fp32_to_bf16_stochastic(std::numeric_limits<float>::infinity(), r), 0x7F80);
    EXPECT_EQ(fp32_to_bf16_stochastic(-std::numeric_limits<float>::infinity(), r), 0xFF80);
    EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16_stochastic(std::nanf(""), r))));
    EXPECT_TRUE(
        std::isnan(bf16_to_fp32(fp32_to_bf16_stochastic(std::bit_cast<float>(0x7F800001u), r))));
  }
  // The largest finite value rounds up to infinity with the probability of its dropped bits.
  EXPECT_EQ(fp32_to_bf16_stochastic(std::numeric_limits<float>::max(), 0x0001u), 0x7F80);
}

TEST(Bf16, CastOpsRoundEveryElementAndWidenExactly) {
  std::vector<float> x = random_vector<float>(1000, 1);
  x[0] = std::numeric_limits<float>::infinity();
  x[1] = std::nanf("");
  x[2] = std::bit_cast<float>(0x3F818000u);
  x[3] = std::numeric_limits<float>::max();
  std::vector<uint16_t> nearest(x.size()), stochastic(x.size());
  const Shape shape{10, 100};
  ops::cast_to_bf16(cpu_bf16_tensor(nearest.data(), shape), cpu_tensor(x.data(), shape));
  ops::cast_to_bf16_stochastic(cpu_bf16_tensor(stochastic.data(), shape),
                               cpu_tensor(x.data(), shape), 77);
  std::vector<float> widened(x.size());
  ops::cast_from_bf16(cpu_tensor(widened.data(), shape), cpu_bf16_tensor(nearest.data(), shape));
  int64_t differ = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(nearest[i], fp32_to_bf16(x[i])) << i;
    EXPECT_EQ(stochastic[i], fp32_to_bf16_stochastic(x[i], static_cast<uint32_t>(rng_bits(77, i))));
    differ += stochastic[i] != nearest[i];
    EXPECT_EQ(std::bit_cast<uint32_t>(widened[i]), static_cast<uint32_t>(nearest[i]) << 16) << i;
  }
  // A quarter of random values round the other way stochastically (the dropped half is uniform).
  EXPECT_GT(differ, 150);
  EXPECT_LT(differ, 350);
}

TEST(Bf16, CastOpsRejectWrongDtypesAndShapes) {
  std::vector<float> x(6), y(6);
  std::vector<double> xd(6);
  std::vector<uint16_t> h(6);
  EXPECT_THROW(ops::cast_to_bf16(cpu_bf16_tensor(h.data(), {6}), cpu_tensor(xd.data(), {6})),
               Error);
  EXPECT_THROW(ops::cast_to_bf16(cpu_tensor(y.data(), {6}), cpu_tensor(x.data(), {6})), Error);
  EXPECT_THROW(ops::cast_to_bf16(cpu_bf16_tensor(h.data(), {2, 3}), cpu_tensor(x.data(), {6})),
               Error);
  EXPECT_THROW(ops::cast_from_bf16(cpu_tensor(y.data(), {6}), cpu_tensor(x.data(), {6})), Error);
  try {
    ops::cast_from_bf16(cpu_bf16_tensor(h.data(), {6}), cpu_bf16_tensor(h.data(), {6}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cast_from_bf16"), std::string::npos) << e.what();
  }
}

// The error bound of a bf16 GEMM against the exact product of the unrounded fp32 inputs: each
// input is rounded to bf16 with relative error at most u = 2^-8 (8 significant bits, round to
// nearest), the product of two bf16 values is exact in fp32, and a sum of n terms in fp32 errs by
// at most gamma_n = n eps / (1 - n eps) relative to the sum of their magnitudes, eps = 2^-24
// (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., eq. 3.5). So, per output,
// |y - exact| <= ((1 + u)^2 (1 + gamma_n) - 1) * sum_k |a_k b_k|   (n terms, a bias included).
// Random errors make the typical error about u sqrt(n) times smaller, but the bound holds always.
double bf16_gemm_bound(int64_t n, double magnitude_sum) {
  const double u = std::ldexp(1.0, -8), eps = std::ldexp(1.0, -24);
  const double gamma = n * eps / (1 - n * eps);
  return ((1 + u) * (1 + u) * (1 + gamma) - 1) * magnitude_sum;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    h[i] = fp32_to_bf16(v[i]);
  return h;
}

constexpr int64_t N = 9, I = 300, O = 11;

TEST(Bf16Linear, ForwardAndBackwardWithinTheBf16BoundOfTheExactProducts) {
  auto x = random_vector<float>(N * I, 2), w = random_vector<float>(O * I, 3),
       b = random_vector<float>(O, 4), dout = random_vector<float>(N * O, 5);
  auto xh = to_bf16(x), wh = to_bf16(w), douth = to_bf16(dout);
  std::vector<float> out(N * O), dx(N * I), dw(O * I, 0.0f), db(O, 0.0f);
  const Tensor tx = cpu_bf16_tensor(xh.data(), {N, I}), tw = cpu_bf16_tensor(wh.data(), {O, I});
  ops::linear_forward(cpu_tensor(out.data(), {N, O}), tx, tw, cpu_tensor(b.data(), {O}));
  ops::linear_backward(cpu_tensor(dx.data(), {N, I}), cpu_tensor(dw.data(), {O, I}),
                       cpu_tensor(db.data(), {O}), cpu_bf16_tensor(douth.data(), {N, O}), tx, tw);
  double worst = 0.0;  // the largest error as a fraction of its bound
  auto check = [&](double got, double exact, int64_t terms, double magnitude) {
    const double bound = bf16_gemm_bound(terms, magnitude);
    EXPECT_LE(std::fabs(got - exact), bound);
    worst = std::max(worst, std::fabs(got - exact) / bound);
  };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double exact = b[o], magnitude = std::fabs(b[o]);
      for (int64_t i = 0; i < I; ++i) {
        exact += static_cast<double>(x[n * I + i]) * w[o * I + i];
        magnitude += std::fabs(static_cast<double>(x[n * I + i]) * w[o * I + i]);
      }
      check(out[n * O + o], exact, I + 1, magnitude);
    }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < I; ++i) {
      double exact = 0.0, magnitude = 0.0;
      for (int64_t o = 0; o < O; ++o) {
        exact += static_cast<double>(dout[n * O + o]) * w[o * I + i];
        magnitude += std::fabs(static_cast<double>(dout[n * O + o]) * w[o * I + i]);
      }
      check(dx[n * I + i], exact, O, magnitude);
    }
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      double exact = 0.0, magnitude = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        exact += static_cast<double>(dout[n * O + o]) * x[n * I + i];
        magnitude += std::fabs(static_cast<double>(dout[n * O + o]) * x[n * I + i]);
      }
      check(dw[o * I + i], exact, N, magnitude);
    }
  // The bias gradient sums the bf16 dout (one rounding, no products).
  for (int64_t o = 0; o < O; ++o) {
    double exact = 0.0, magnitude = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      exact += dout[n * O + o];
      magnitude += std::fabs(dout[n * O + o]);
    }
    EXPECT_LE(std::fabs(db[o] - exact), bf16_gemm_bound(N, magnitude));
  }
  // The inputs really were rounded: the errors reach a visible part of the bound.
  EXPECT_GT(worst, 0.01);
}

TEST(Bf16Linear, GroupedForwardMatchesPerExpertLinear) {
  const int64_t E = 3, M = 10;
  std::vector<int32_t> offsets = {0, 4, 4, 9};
  auto xh = to_bf16(random_vector<float>(M * I, 6)),
       wh = to_bf16(random_vector<float>(E * O * I, 7));
  std::vector<float> grouped(M * O, -5.0f), single(O);
  ops::grouped_linear_forward(
      cpu_tensor(grouped.data(), {M, O}), cpu_bf16_tensor(xh.data(), {M, I}),
      cpu_bf16_tensor(wh.data(), {E, O, I}), Tensor{}, cpu_tensor(offsets.data(), {E + 1}));
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = offsets[e]; r < offsets[e + 1]; ++r) {
      ops::linear_forward(cpu_tensor(single.data(), {1, O}),
                          cpu_bf16_tensor(xh.data() + r * I, {1, I}),
                          cpu_bf16_tensor(wh.data() + e * O * I, {O, I}), Tensor{});
      for (int64_t o = 0; o < O; ++o)
        EXPECT_NEAR(grouped[r * O + o], single[o], 1e-5 * (1 + std::fabs(single[o])));
    }
  for (int64_t o = 0; o < O; ++o)
    EXPECT_EQ(grouped[9 * O + o], -5.0f);  // the row past off[E] is untouched
}

TEST(Bf16Linear, RejectsMixedDtypes) {
  std::vector<uint16_t> xh(N * I), wh(O * I), douth(N * O);
  std::vector<float> w(O * I), out(N * O), dx(N * I), dw(O * I);
  std::vector<uint16_t> outh(N * O);
  const Tensor tx = cpu_bf16_tensor(xh.data(), {N, I}), tw = cpu_bf16_tensor(wh.data(), {O, I});
  // w fp32 with x bf16; a bf16 output; dout fp32; dw bf16.
  EXPECT_THROW(ops::linear_forward(cpu_tensor(out.data(), {N, O}), tx, cpu_tensor(w.data(), {O, I}),
                                   Tensor{}),
               Error);
  EXPECT_THROW(ops::linear_forward(cpu_bf16_tensor(outh.data(), {N, O}), tx, tw, Tensor{}), Error);
  EXPECT_THROW(ops::linear_backward(cpu_tensor(dx.data(), {N, I}), cpu_tensor(dw.data(), {O, I}),
                                    Tensor{}, cpu_tensor(out.data(), {N, O}), tx, tw),
               Error);
  EXPECT_THROW(
      ops::linear_backward(cpu_tensor(dx.data(), {N, I}), cpu_bf16_tensor(wh.data(), {O, I}),
                           Tensor{}, cpu_bf16_tensor(douth.data(), {N, O}), tx, tw),
      Error);
}

// A Llama-style MoE (attention, grouped expert GEMMs with SwiGLU, LM head) in bf16 and in fp32
// from the same weights: one forward and backward each.
struct ModelRun {
  double loss = 0.0;
  std::vector<float> grads;
};

ModelRun run_model(bool bf16) {
  ModelConfig cfg = RunConfig::preset("llama-moe-tiny").model;
  cfg.vocab_size = 29;
  cfg.n_layers = 2;
  cfg.n_embed = 32;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.block_size = 16;
  cfg.ffn_hidden = 48;
  cfg.n_experts = 4;
  Model model(cfg);
  model.init_parameters(5);
  if (bf16) model.use_bf16_gemms();
  const int64_t b = 3, t = 16;
  model.allocate(b, t);
  if (bf16) model.refresh_bf16_weights(false, 0);
  std::vector<int32_t> tokens(b * t), targets(b * t);
  for (int64_t i = 0; i < b * t; ++i) {
    tokens[i] = static_cast<int32_t>((7 * i + 3) % cfg.vocab_size);
    targets[i] = static_cast<int32_t>((5 * i + 1) % cfg.vocab_size);
  }
  ForwardContext ctx;
  ctx.training = true;
  ctx.batch = b;
  ctx.seq = t;
  model.params().zero_grads();
  model.forward(ctx, cpu_tensor(tokens.data(), {b, t}), cpu_tensor(targets.data(), {b, t}));
  model.backward(ctx);
  ModelRun r;
  r.loss = model.read_stats().loss.ce;
  r.grads.resize(static_cast<size_t>(model.param_count()));
  ops::copy(cpu_tensor(r.grads.data(), {model.param_count()}), model.params().flat_grads());
  return r;
}

// bf16 GEMM inputs round by at most 2^-8 relative, so the loss (a smooth function of them) moves by
// at most about that much, and the gradients, through a few chained GEMMs (LM head, expert w2, w1
// or w3, attention), by a few times that: 4 x 2^-8 norm-wise (2.1e-3 seen); a GEMM on wrong or
// stale weights or a lost gradient term is off by order 1.
TEST(Bf16Model, ForwardAndGradientsStayCloseToFp32) {
  const ModelRun fp32 = run_model(false), bf16 = run_model(true);
  std::printf("loss fp32 %.6f bf16 %.6f; gradient relative error %.2e\n", fp32.loss, bf16.loss,
              testing::rel_error(bf16.grads, fp32.grads));
  EXPECT_NE(fp32.loss, bf16.loss);  // the GEMMs really ran in bf16
  EXPECT_LE(std::fabs(bf16.loss - fp32.loss), std::ldexp(1.0, -8) * fp32.loss);
  EXPECT_LE(testing::rel_error(bf16.grads, fp32.grads), 4 * std::ldexp(1.0, -8));
}

TEST(Bf16Model, RefusesToRunOnCopiesNeverMade) {
  ModelConfig cfg = RunConfig::preset("llama-moe-tiny").model;
  cfg.n_layers = 1;
  cfg.vocab_size = 11;
  Model model(cfg);
  model.init_parameters(1);
  model.use_bf16_gemms();
  model.allocate(1, 4);
  std::vector<int32_t> tokens = {1, 2, 3, 4};
  ForwardContext ctx;
  ctx.batch = 1;
  ctx.seq = 4;
  try {
    model.forward(ctx, cpu_tensor(tokens.data(), {1, 4}), Tensor{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("refresh_bf16_weights"), std::string::npos) << e.what();
  }
  // Choosing mixed precision after the activations exist is refused too.
  Model late(cfg);
  late.allocate(1, 4);
  EXPECT_THROW(late.use_bf16_gemms(), Error);
}

}  // namespace
}  // namespace moe
