#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "model/model.h"
#include "train/optimizer.h"
#include "train/zero_sharding.h"

namespace moe {
namespace {

TEST(ZeroSharding, ShardsCoverTheBufferOnceInRankOrder) {
  for (int64_t numel : {0, 1, 5, 7, 64, 1001})
    for (int ranks : {1, 2, 3, 4, 8}) {
      int64_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const ElementRange s = ZeroSharding::shard_of(numel, r, ranks);
        EXPECT_EQ(s.begin, next) << numel << " on " << ranks;
        EXPECT_LE(s.size(), (numel + ranks - 1) / ranks);
        EXPECT_GE(s.size(), 0);
        next = s.end;
      }
      EXPECT_EQ(next, numel) << numel << " on " << ranks;
    }
}

// AdamW over the shards of the table, one after another, gives the bits of AdamW over the whole
// table: the shards cut runs of parameters that share a weight-decay flag anywhere.
TEST(ZeroSharding, ShardedAdamWEqualsTheWholeUpdate) {
  RunConfig c = RunConfig::preset("makemoe");
  c.model.n_layers = 1;
  c.model.n_embed = 16;
  c.model.n_heads = 2;
  c.model.ffn_hidden = 16;
  c.model.n_experts = 2;
  c.model.block_size = 8;
  c.model.vocab_size = 10;
  c.train.weight_decay = 0.1f;
  Model whole(c.model), sharded(c.model);
  whole.init_parameters(7);
  sharded.init_parameters(7);
  const int64_t n = whole.param_count();
  for (Model* m : {&whole, &sharded}) {
    float* g = m->params().flat_grads().f32();
    for (int64_t i = 0; i < n; ++i)
      g[i] = 0.01f * static_cast<float>((i * 37) % 101 - 50);
  }
  AdamW one(whole.params(), c.train, {0, n});
  const int ranks = 3;
  std::vector<std::unique_ptr<AdamW>> shards;
  for (int r = 0; r < ranks; ++r)
    shards.push_back(
        std::make_unique<AdamW>(sharded.params(), c.train, ZeroSharding::shard_of(n, r, ranks)));
  for (int64_t step = 1; step <= 3; ++step) {
    one.step(1e-2f, step);
    for (auto& s : shards)
      s->step(1e-2f, step);
  }
  EXPECT_EQ(std::memcmp(whole.params().flat_values().ptr, sharded.params().flat_values().ptr,
                        static_cast<size_t>(n) * sizeof(float)),
            0);
  for (int r = 0; r < ranks; ++r) {
    const ElementRange s = shards[r]->shard();
    EXPECT_EQ(shards[r]->m().numel(), s.size());
    EXPECT_EQ(std::memcmp(one.m().f32() + s.begin, shards[r]->m().f32(),
                          static_cast<size_t>(s.size()) * sizeof(float)),
              0);
    EXPECT_EQ(std::memcmp(one.v().f32() + s.begin, shards[r]->v().f32(),
                          static_cast<size_t>(s.size()) * sizeof(float)),
              0);
  }
}

}  // namespace
}  // namespace moe
