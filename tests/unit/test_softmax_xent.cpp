#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/softmax_xent.h"
#include "core/check.h"
#include "ops/softmax_xent.h"
#include "test_util.h"

namespace moe {
namespace {

// softmax_xent_forward with its mean (an F64 statistic on the device) read back.
double xent_forward(Tensor losses, const Tensor& logits, const Tensor& targets) {
  double mean = 0.0;
  ops::softmax_xent_forward(losses, cpu_tensor(&mean, {1}), logits, targets);
  return mean;
}

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;

// Naive softmax of row / temperature in double.
std::vector<double> softmax_row(const float* row, int64_t V, double temperature) {
  std::vector<double> p(V);
  double sum = 0;
  for (int64_t j = 0; j < V; ++j)
    sum += p[j] = std::exp(row[j] / temperature);
  for (auto& x : p)
    x /= sum;
  return p;
}

TEST(SoftmaxXentTest, ForwardBackwardMatchReference) {
  const int64_t N = 6, V = 11;
  std::vector<float> logits = random_vector<float>(N * V, 1, -3.0, 3.0);
  std::vector<int32_t> targets = {0, 10, 3, 3, 7, 5};
  std::vector<float> losses(N), dlogits(N * V);
  const double mean =
      xent_forward(cpu_tensor(losses.data(), {N}), cpu_tensor(logits.data(), {N, V}),
                   cpu_tensor(targets.data(), {N}));
  const float dloss = 1.0f / N;
  ops::softmax_xent_backward(cpu_tensor(dlogits.data(), {N, V}), cpu_tensor(logits.data(), {N, V}),
                             cpu_tensor(targets.data(), {N}), dloss);

  std::vector<double> ref_losses(N), ref_dlogits(N * V);
  double ref_mean = 0;
  for (int64_t i = 0; i < N; ++i) {
    std::vector<double> p = softmax_row(logits.data() + i * V, V, 1.0);
    ref_losses[i] = -std::log(p[targets[i]]);
    ref_mean += ref_losses[i] / N;
    for (int64_t j = 0; j < V; ++j)
      ref_dlogits[i * V + j] = (p[j] - (j == targets[i] ? 1.0 : 0.0)) * dloss;
  }
  EXPECT_LE(rel_error(losses, ref_losses), 1e-5);
  EXPECT_LE(std::abs(mean - ref_mean) / ref_mean, 1e-5);
  EXPECT_LE(rel_error(dlogits, ref_dlogits), 1e-5);

  // In place: dlogits overwrites logits.
  Tensor t = cpu_tensor(logits.data(), {N, V});
  ops::softmax_xent_backward(t, t, cpu_tensor(targets.data(), {N}), dloss);
  EXPECT_EQ(logits, dlogits);
}

TEST(SoftmaxXentTest, LargeLogitsStayFinite) {
  const int64_t N = 2, V = 3;
  std::vector<float> logits = {1000.0f, 999.0f, -1000.0f, -500.0f, 200.0f, 200.0f};
  std::vector<int32_t> targets = {1, 2};
  std::vector<float> losses(N);
  const double mean =
      xent_forward(cpu_tensor(losses.data(), {N}), cpu_tensor(logits.data(), {N, V}),
                   cpu_tensor(targets.data(), {N}));
  // Row 0: 1000 + log(1 + e^-1 + e^-2000) - 999; row 1: two tied maxima, log 2.
  EXPECT_NEAR(losses[0], 1.0 + std::log1p(std::exp(-1.0)), 1e-5);
  EXPECT_NEAR(losses[1], std::log(2.0), 1e-5);
  EXPECT_TRUE(std::isfinite(mean));
}

TEST(SoftmaxXentTest, BackwardMatchesFiniteDifferences) {
  const int64_t N = 4, V = 7;
  std::vector<double> logits = random_vector<double>(N * V, 2, -2.0, 2.0);
  std::vector<int32_t> targets = {6, 0, 2, 2};
  const double dloss = 0.37;
  auto f = [&](const std::vector<double>& x) {
    std::vector<double> losses(N);
    cpu::softmax_xent_forward(losses.data(), x.data(), targets.data(), N, V);
    double s = 0;
    for (double l : losses)
      s += dloss * l;
    return s;
  };
  std::vector<double> dlogits(N * V);
  cpu::softmax_xent_backward(dlogits.data(), logits.data(), targets.data(), dloss, N, V);
  EXPECT_LE(rel_error(dlogits, numeric_gradient(f, logits)), 1e-6);
}

TEST(SoftmaxXentTest, SoftmaxWithTemperatureMatchesReference) {
  const int64_t N = 3, V = 9;
  std::vector<float> logits = random_vector<float>(N * V, 3, -3.0, 3.0);
  for (float temperature : {1.0f, 0.5f, 2.5f}) {
    std::vector<float> probs(N * V);
    ops::softmax_forward(cpu_tensor(probs.data(), {N, V}), cpu_tensor(logits.data(), {N, V}),
                         temperature);
    std::vector<double> ref;
    for (int64_t i = 0; i < N; ++i) {
      std::vector<double> p = softmax_row(logits.data() + i * V, V, temperature);
      ref.insert(ref.end(), p.begin(), p.end());
    }
    EXPECT_LE(rel_error(probs, ref), 1e-5) << "temperature " << temperature;
  }
}

TEST(SoftmaxXentTest, TargetOutOfRangeNamesTargetAndVocabulary) {
  const int64_t N = 2, V = 5;
  std::vector<float> logits(N * V), losses(N);
  for (int32_t bad : {5, -1}) {
    std::vector<int32_t> targets = {1, bad};
    try {
      xent_forward(cpu_tensor(losses.data(), {N}), cpu_tensor(logits.data(), {N, V}),
                   cpu_tensor(targets.data(), {N}));
      FAIL() << "expected moe::Error for target " << bad;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("target " + std::to_string(bad)), std::string::npos) << msg;
      EXPECT_NE(msg.find("V=5"), std::string::npos) << msg;
    }
    EXPECT_THROW(ops::softmax_xent_backward(cpu_tensor(logits.data(), {N, V}),
                                            cpu_tensor(logits.data(), {N, V}),
                                            cpu_tensor(targets.data(), {N}), 1.0f),
                 Error);
  }
}

TEST(SoftmaxXentTest, RejectsBadShapesAndDtypes) {
  const int64_t N = 2, V = 5;
  std::vector<float> logits(N * V), losses(N), ftargets(N);
  std::vector<int32_t> targets = {0, 1};
  // Wrong losses length.
  EXPECT_THROW(xent_forward(cpu_tensor(logits.data(), {N + 1}), cpu_tensor(logits.data(), {N, V}),
                            cpu_tensor(targets.data(), {N})),
               Error);
  // Float targets.
  EXPECT_THROW(xent_forward(cpu_tensor(losses.data(), {N}), cpu_tensor(logits.data(), {N, V}),
                            cpu_tensor(ftargets.data(), {N})),
               Error);
  // Targets not (N).
  EXPECT_THROW(ops::softmax_xent_backward(cpu_tensor(logits.data(), {N, V}),
                                          cpu_tensor(logits.data(), {N, V}),
                                          cpu_tensor(targets.data(), {1, N}), 1.0f),
               Error);
  // 1-D logits.
  EXPECT_THROW(ops::softmax_forward(cpu_tensor(logits.data(), {N * V}),
                                    cpu_tensor(logits.data(), {N * V}), 1.0f),
               Error);
  // Non-positive temperature.
  EXPECT_THROW(ops::softmax_forward(cpu_tensor(logits.data(), {N, V}),
                                    cpu_tensor(logits.data(), {N, V}), 0.0f),
               Error);
}

}  // namespace
}  // namespace moe
