#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends/cpu/embedding.h"
#include "core/check.h"
#include "ops/embedding.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::weighted_sum;

constexpr int64_t B = 2, Tn = 4, C = 70, V = 5, MaxT = 6;  // C spans two channel blocks

// Tokens with repeats, so the backward must add several rows into one.
std::vector<int32_t> tokens() {
  return {1, 4, 1, 0, 3, 3, 2, 1};
}

TEST(Embedding, ForwardMatchesReference) {
  auto ids = tokens();
  auto wte = random_vector<float>(V * C, 1), wpe = random_vector<float>(MaxT * C, 2);
  const int64_t offset = 2;
  std::vector<float> out(B * Tn * C, 99.0f), out_nopos(B * Tn * C, 99.0f);
  ops::embedding_forward(cpu_tensor(out.data(), {B, Tn, C}), cpu_tensor(ids.data(), {B, Tn}),
                         cpu_tensor(wte.data(), {V, C}), cpu_tensor(wpe.data(), {MaxT, C}), offset);
  ops::embedding_forward(cpu_tensor(out_nopos.data(), {B, Tn, C}), cpu_tensor(ids.data(), {B, Tn}),
                         cpu_tensor(wte.data(), {V, C}), Tensor{});
  std::vector<double> ref(B * Tn * C), ref_nopos(B * Tn * C);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t i = (b * Tn + t) * C + c;
        ref_nopos[i] = wte[ids[b * Tn + t] * C + c];
        ref[i] = ref_nopos[i] + static_cast<double>(wpe[(offset + t) * C + c]);
      }
  EXPECT_LE(rel_error(out, ref), 1e-5);
  EXPECT_LE(rel_error(out_nopos, ref_nopos), 1e-5);
}

TEST(Embedding, BackwardMatchesReference) {
  auto ids = tokens();
  auto dout = random_vector<float>(B * Tn * C, 3);
  auto dwte = random_vector<float>(V * C, 4), dwpe = random_vector<float>(MaxT * C, 5);
  std::vector<double> rdwte(dwte.begin(), dwte.end()), rdwpe(dwpe.begin(), dwpe.end());
  ops::embedding_backward(cpu_tensor(dwte.data(), {V, C}), cpu_tensor(dwpe.data(), {MaxT, C}),
                          cpu_tensor(dout.data(), {B, Tn, C}), cpu_tensor(ids.data(), {B, Tn}));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t c = 0; c < C; ++c) {
        const double g = dout[(b * Tn + t) * C + c];
        rdwte[ids[b * Tn + t] * C + c] += g;
        rdwpe[t * C + c] += g;
      }
  EXPECT_LE(rel_error(dwte, rdwte), 1e-5);
  EXPECT_LE(rel_error(dwpe, rdwpe), 1e-5);
}

TEST(Embedding, GradientsMatchFiniteDifferences) {
  auto ids = tokens();
  auto wte = random_vector<double>(V * C, 6), wpe = random_vector<double>(MaxT * C, 7),
       r = random_vector<double>(B * Tn * C, 8);
  auto loss = [&](const std::vector<double>& e, const std::vector<double>& p) {
    std::vector<double> y(B * Tn * C);
    cpu::embedding_forward(y.data(), ids.data(), e.data(), p.data(), B, Tn, C, 0);
    return weighted_sum(y, r);
  };
  auto dwte0 = random_vector<double>(V * C, 9), dwpe0 = random_vector<double>(MaxT * C, 10);
  std::vector<double> dwte = dwte0, dwpe = dwpe0;
  cpu::embedding_backward(dwte.data(), dwpe.data(), r.data(), ids.data(), B, Tn, C);
  for (size_t i = 0; i < dwte.size(); ++i)
    dwte[i] -= dwte0[i];
  for (size_t i = 0; i < dwpe.size(); ++i)
    dwpe[i] -= dwpe0[i];
  auto n_wte = numeric_gradient([&](const std::vector<double>& v) { return loss(v, wpe); }, wte);
  auto n_wpe = numeric_gradient([&](const std::vector<double>& v) { return loss(wte, v); }, wpe);
  EXPECT_LE(rel_error(dwte, n_wte), 1e-6);
  EXPECT_LE(rel_error(dwpe, n_wpe), 1e-6);
}

TEST(Embedding, OutOfRangeTokenNamesIdAndVocab) {
  std::vector<int32_t> ids = {1, 2, 7, 0, 1, 2, 3, 4};
  std::vector<float> wte(V * C), out(B * Tn * C);
  try {
    ops::embedding_forward(cpu_tensor(out.data(), {B, Tn, C}), cpu_tensor(ids.data(), {B, Tn}),
                           cpu_tensor(wte.data(), {V, C}), Tensor{});
    FAIL() << "expected moe::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("token id 7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[0, 5)"), std::string::npos) << msg;
  }
  ids[2] = -1;
  EXPECT_THROW(
      ops::embedding_backward(cpu_tensor(wte.data(), {V, C}), Tensor{},
                              cpu_tensor(out.data(), {B, Tn, C}), cpu_tensor(ids.data(), {B, Tn})),
      Error);
}

TEST(Embedding, RejectsBadShapesAndDtypes) {
  auto ids = tokens();
  std::vector<float> wte(V * C), wpe(MaxT * C), out(B * Tn * C), fids(B * Tn);
  Tensor tids = cpu_tensor(ids.data(), {B, Tn}), twte = cpu_tensor(wte.data(), {V, C});
  EXPECT_THROW(ops::embedding_forward(cpu_tensor(out.data(), {B, Tn, C}),
                                      cpu_tensor(fids.data(), {B, Tn}), twte, Tensor{}),
               Error);
  EXPECT_THROW(ops::embedding_forward(cpu_tensor(out.data(), {B, C, Tn}), tids, twte, Tensor{}),
               Error);
  // Positions 3 .. 6 do not fit a 6-row table.
  EXPECT_THROW(ops::embedding_forward(cpu_tensor(out.data(), {B, Tn, C}), tids, twte,
                                      cpu_tensor(wpe.data(), {MaxT, C}), 3),
               Error);
  EXPECT_THROW(ops::embedding_backward(twte, cpu_tensor(wpe.data(), {C, MaxT}),
                                       cpu_tensor(out.data(), {B, Tn, C}), tids),
               Error);
}

}  // namespace
}  // namespace moe
