#include <gtest/gtest.h>

#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "data/batch_sampler.h"

using moe::BatchSampler;
using moe::Shape;

namespace {

// tokens[i] = i, so every row's values reveal its start offset.
std::vector<int32_t> iota_tokens(int n) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), 0);
  return t;
}

TEST(BatchSampler, SampleRowsAreShiftedWindows) {
  std::vector<int32_t> stream = iota_tokens(100);
  BatchSampler s(&stream, 4, 8);
  std::vector<int32_t> x(32), y(32);
  s.sample(moe::cpu_tensor(x.data(), Shape{4, 8}), moe::cpu_tensor(y.data(), Shape{4, 8}), 42);
  moe::Rng rng(42);
  for (int b = 0; b < 4; ++b) {
    const int32_t start = static_cast<int32_t>(rng.below(100 - 8));
    for (int t = 0; t < 8; ++t) {
      EXPECT_EQ(x[b * 8 + t], start + t);
      EXPECT_EQ(y[b * 8 + t], start + t + 1);
    }
  }
}

TEST(BatchSampler, SampleIsPureFunctionOfKey) {
  std::vector<int32_t> stream = iota_tokens(1000);
  BatchSampler s(&stream, 3, 5);
  std::vector<int32_t> x1(15), y1(15), x2(15), y2(15), x3(15), y3(15);
  auto t = [](std::vector<int32_t>& v) { return moe::cpu_tensor(v.data(), Shape{3, 5}); };
  s.sample(t(x1), t(y1), 7);
  s.sample(t(x3), t(y3), 8);
  s.sample(t(x2), t(y2), 7);
  EXPECT_EQ(x1, x2);
  EXPECT_EQ(y1, y2);
  EXPECT_NE(x1, x3);
}

TEST(BatchSampler, SampleCoversAllOffsetsIncludingTheLast) {
  // n = 6, block = 3: offsets 0, 1, 2 are valid; 2 uses the final token as its last target.
  std::vector<int32_t> stream = iota_tokens(6);
  BatchSampler s(&stream, 1, 3);
  std::vector<int32_t> x(3), y(3);
  std::set<int32_t> starts;
  for (uint64_t key = 0; key < 200; ++key) {
    s.sample(moe::cpu_tensor(x.data(), Shape{1, 3}), moe::cpu_tensor(y.data(), Shape{1, 3}), key);
    starts.insert(x[0]);
    ASSERT_LE(y[2], 5);
  }
  EXPECT_EQ(starts, (std::set<int32_t>{0, 1, 2}));
}

TEST(BatchSampler, ContiguousWindowsInOrder) {
  std::vector<int32_t> stream = iota_tokens(26);  // (26 - 1) / 4 = 6 windows
  BatchSampler s(&stream, 4, 4);
  EXPECT_EQ(s.num_contiguous_windows(), 6);
  std::vector<int32_t> x(16), y(16);
  auto tx = moe::cpu_tensor(x.data(), Shape{4, 4});
  auto ty = moe::cpu_tensor(y.data(), Shape{4, 4});
  EXPECT_EQ(s.contiguous(tx, ty, 0), 4);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(x[i], i);
    EXPECT_EQ(y[i], i + 1);
  }
  // The last batch: windows 4 and 5, then two padding rows.
  EXPECT_EQ(s.contiguous(tx, ty, 4), 2);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(x[i], 16 + i);
    EXPECT_EQ(y[i], 17 + i);
  }
  for (int i = 8; i < 16; ++i) {
    EXPECT_EQ(x[i], 0);
    EXPECT_EQ(y[i], 0);
  }
  EXPECT_EQ(y[7], 24);  // token 25 is never a target: it would need a seventh window
}

TEST(BatchSampler, ContiguousExactFit) {
  std::vector<int32_t> stream = iota_tokens(9);  // exactly 2 windows of 4 (+1 target)
  BatchSampler s(&stream, 2, 4);
  EXPECT_EQ(s.num_contiguous_windows(), 2);
  std::vector<int32_t> x(8), y(8);
  EXPECT_EQ(s.contiguous(moe::cpu_tensor(x.data(), Shape{2, 4}),
                         moe::cpu_tensor(y.data(), Shape{2, 4}), 0),
            2);
  EXPECT_EQ(y[7], 8);
}

TEST(BatchSampler, ConstructorRejectsShortStream) {
  std::vector<int32_t> stream = iota_tokens(8);
  try {
    BatchSampler s(&stream, 2, 8);
    FAIL() << "expected moe::Error";
  } catch (const moe::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("8 tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find("block_size + 1 = 9"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(BatchSampler(&stream, 2, 7));
  EXPECT_THROW(BatchSampler(nullptr, 2, 7), moe::Error);
  EXPECT_THROW(BatchSampler(&stream, 0, 7), moe::Error);
  EXPECT_THROW(BatchSampler(&stream, 2, 0), moe::Error);
}

TEST(BatchSampler, RejectsBadTensors) {
  std::vector<int32_t> stream = iota_tokens(50);
  BatchSampler s(&stream, 2, 4);
  std::vector<int32_t> x(8), y(8);
  std::vector<float> f(8);
  auto good = moe::cpu_tensor(x.data(), Shape{2, 4});
  auto ty = moe::cpu_tensor(y.data(), Shape{2, 4});
  EXPECT_THROW(s.sample(moe::cpu_tensor(x.data(), Shape{4, 2}), ty, 0), moe::Error);
  EXPECT_THROW(s.sample(good, moe::cpu_tensor(f.data(), Shape{2, 4}), 0), moe::Error);
  moe::Tensor gpu = good;
  gpu.device = moe::Device::CUDA;
  EXPECT_THROW(s.sample(gpu, ty, 0), moe::Error);
  EXPECT_THROW(s.contiguous(good, ty, -1), moe::Error);
  EXPECT_THROW(s.contiguous(good, ty, s.num_contiguous_windows()), moe::Error);
}

}  // namespace
