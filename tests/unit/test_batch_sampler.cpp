#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "data/batch_sampler.h"
#include "data/token_shard.h"

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
  BatchSampler s(moe::TokenSpan::of(stream), 4, 8);
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
  BatchSampler s(moe::TokenSpan::of(stream), 3, 5);
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
  BatchSampler s(moe::TokenSpan::of(stream), 1, 3);
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
  BatchSampler s(moe::TokenSpan::of(stream), 4, 4);
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
  BatchSampler s(moe::TokenSpan::of(stream), 2, 4);
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
    BatchSampler s(moe::TokenSpan::of(stream), 2, 8);
    FAIL() << "expected moe::Error";
  } catch (const moe::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("8 tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find("block_size + 1 = 9"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(BatchSampler(moe::TokenSpan::of(stream), 2, 7));
  EXPECT_THROW(BatchSampler(moe::TokenSpan::of(stream), 0, 7), moe::Error);
  EXPECT_THROW(BatchSampler(moe::TokenSpan::of(stream), 2, 0), moe::Error);
}

TEST(BatchSampler, RejectsBadTensors) {
  std::vector<int32_t> stream = iota_tokens(50);
  BatchSampler s(moe::TokenSpan::of(stream), 2, 4);
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

// Rows of a (batch, block) chunk batch as their start offsets (tokens[i] = i streams only).
std::vector<int32_t> chunk_starts_of(const BatchSampler& s, int64_t batch_index, uint64_t key) {
  const int64_t B = s.batch(), T = s.block();
  std::vector<int32_t> x(static_cast<size_t>(B * T)), y(x.size());
  s.chunks(moe::cpu_tensor(x.data(), Shape{B, T}), moe::cpu_tensor(y.data(), Shape{B, T}),
           batch_index, key);
  std::vector<int32_t> starts;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      EXPECT_EQ(x[b * T + t], x[b * T] + t);
      EXPECT_EQ(y[b * T + t], x[b * T] + t + 1);
    }
    starts.push_back(x[b * T]);
  }
  return starts;
}

TEST(BatchSampler, ChunksCoverEverySequenceOncePerEpoch) {
  // n = 43, block 4: (43 - 1) / 4 = 10 sequences starting at 0, 4, ..., 36; batch 5 -> two
  // batches per epoch.
  std::vector<int32_t> stream = iota_tokens(43);
  BatchSampler s(moe::TokenSpan::of(stream), 5, 4);
  EXPECT_EQ(s.num_contiguous_windows(), 10);
  std::vector<std::vector<int32_t>> epochs;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<int32_t> seen;
    for (int64_t g = 2 * epoch; g < 2 * epoch + 2; ++g) {
      std::vector<int32_t> starts = chunk_starts_of(s, g, 99);
      seen.insert(seen.end(), starts.begin(), starts.end());
    }
    std::vector<int32_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int32_t> expected(10);
    for (int i = 0; i < 10; ++i)
      expected[static_cast<size_t>(i)] = 4 * i;
    EXPECT_EQ(sorted, expected) << "epoch " << epoch;  // each sequence exactly once
    epochs.push_back(seen);
  }
  // Shuffled, and differently in each epoch.
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  std::vector<int32_t> in_order(10);
  for (int i = 0; i < 10; ++i)
    in_order[static_cast<size_t>(i)] = 4 * i;
  EXPECT_NE(epochs[0], in_order);
}

TEST(BatchSampler, ChunksArePureFunctionsOfKeyAndIndex) {
  std::vector<int32_t> stream = iota_tokens(200);
  BatchSampler a(moe::TokenSpan::of(stream), 3, 7), b(moe::TokenSpan::of(stream), 3, 7);
  // b visits other epochs first, so its cached order must be rebuilt correctly.
  chunk_starts_of(b, 40, 5);
  chunk_starts_of(b, 3, 6);
  for (int64_t g : {0, 9, 10, 1, 0}) {
    EXPECT_EQ(chunk_starts_of(a, g, 5), chunk_starts_of(b, g, 5)) << "batch " << g;
  }
  EXPECT_NE(chunk_starts_of(a, 0, 5), chunk_starts_of(a, 0, 6));
}

TEST(BatchSampler, ChunksStraddleEpochs) {
  // 7 sequences, batch 3: batch 2 holds the last sequence of epoch 0 and two of epoch 1.
  std::vector<int32_t> stream = iota_tokens(7 * 2 + 1);
  BatchSampler s(moe::TokenSpan::of(stream), 3, 2);
  std::map<int32_t, int> count;
  for (int64_t g = 0; g < 7; ++g)  // 21 sequences = 3 whole epochs
    for (int32_t start : chunk_starts_of(s, g, 1))
      ++count[start];
  EXPECT_EQ(count.size(), 7u);
  for (const auto& [start, n] : count)
    EXPECT_EQ(n, 3) << "sequence at " << start;
}

// The same stream as a memory-mapped uint16 shard and as a vector gives identical batches.
TEST(BatchSampler, MappedShardMatchesVector) {
  std::vector<int32_t> stream(5000);
  moe::Rng rng(3);
  for (auto& t : stream)
    t = static_cast<int32_t>(rng.below(50000));
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("moe_sampler_" + std::to_string(::getpid()) + ".bin"))
                               .string();
  moe::write_shard(path, moe::TokenSpan::of(stream), 50000);
  const moe::TokenShard shard = moe::TokenShard::open(path);
  ASSERT_EQ(shard.tokens().id_bytes, 2);
  BatchSampler from_vector(moe::TokenSpan::of(stream), 4, 16), from_shard(shard.tokens(), 4, 16);
  std::vector<int32_t> x1(64), y1(64), x2(64), y2(64);
  auto t = [](std::vector<int32_t>& v) { return moe::cpu_tensor(v.data(), Shape{4, 16}); };
  for (uint64_t key = 0; key < 5; ++key) {
    from_vector.sample(t(x1), t(y1), key);
    from_shard.sample(t(x2), t(y2), key);
    EXPECT_EQ(x1, x2);
    EXPECT_EQ(y1, y2);
    from_vector.chunks(t(x1), t(y1), static_cast<int64_t>(key) * 30, 11);
    from_shard.chunks(t(x2), t(y2), static_cast<int64_t>(key) * 30, 11);
    EXPECT_EQ(x1, x2);
    EXPECT_EQ(y1, y2);
  }
  EXPECT_EQ(from_vector.contiguous(t(x1), t(y1), 10), from_shard.contiguous(t(x2), t(y2), 10));
  EXPECT_EQ(x1, x2);
  EXPECT_EQ(y1, y2);
  std::filesystem::remove(path);
}

}  // namespace
