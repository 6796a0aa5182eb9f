// Generator: KV-cache decoding against full forwards, greedy decoding, seeding, end-of-text and
// generation past block_size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "core/check.h"
#include "generate/generator.h"
#include "test_util.h"

namespace moe {
namespace {

constexpr int64_t kBlock = 8;
constexpr int64_t kVocab = 13;

ModelConfig tiny_config(const std::string& arch) {
  ModelConfig cfg;
  cfg.arch = arch;
  cfg.vocab_size = kVocab;
  cfg.block_size = kBlock;
  cfg.n_embed = 16;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  cfg.n_kv_heads = arch == "llama" ? 2 : 4;
  cfg.ffn_hidden = 24;
  cfg.n_experts = 4;
  cfg.top_k = 2;
  cfg.moe_layers = "all";
  cfg.router = "topk";
  cfg.dropout = 0.0f;
  return cfg;
}

// A model and a copy with the same weights used for plain (cache-free) forwards.
struct Models {
  Model model;
  Model reference;
  explicit Models(const ModelConfig& cfg, uint64_t seed = 7) : model(cfg), reference(cfg) {
    model.init_parameters(seed);
    Tensor src = model.params().flat_values(), dst = reference.params().flat_values();
    std::memcpy(dst.f32(), src.f32(), src.bytes());
    reference.allocate(1, cfg.block_size);
  }

  // Logits (V) of the last position of a full forward over tokens (positions from 0).
  std::vector<float> full_last_logits(std::vector<int32_t> tokens) {
    ForwardContext ctx;
    ctx.batch = 1;
    ctx.seq = static_cast<int64_t>(tokens.size());
    reference.forward(ctx, cpu_tensor(tokens.data(), Shape{1, ctx.seq}), Tensor{});
    const float* last = reference.logits().f32() + (ctx.seq - 1) * kVocab;
    return std::vector<float>(last, last + kVocab);
  }
};

std::vector<int32_t> random_tokens(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int32_t> dist(0, kVocab - 1);
  std::vector<int32_t> t(n);
  for (auto& x : t)
    x = dist(gen);
  return t;
}

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

GenerateArgs greedy_args(int64_t n) {
  GenerateArgs args;
  args.max_new_tokens = n;
  args.sampler.temperature = 0.0f;
  return args;
}

// Greedy decoding with full forwards only, following the generator's documented context: the
// prompt's last block_size tokens, and when the window is full, its last block_size / 2 tokens
// at positions restarting from 0.
std::vector<int32_t> reference_greedy(Models& m, std::vector<int32_t> prompt, int64_t n) {
  if (static_cast<int64_t>(prompt.size()) > kBlock)
    prompt.erase(prompt.begin(), prompt.end() - kBlock);
  std::vector<int32_t> window = prompt, out;
  for (int64_t i = 0; i < n; ++i) {
    if (static_cast<int64_t>(window.size()) > kBlock)
      window.erase(window.begin(), window.end() - kBlock / 2);
    int32_t next = argmax(m.full_last_logits(window));
    out.push_back(next);
    window.push_back(next);
  }
  return out;
}

class GeneratorTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GeneratorTest, KVCacheLogitsMatchFullForward) {
  Models m(tiny_config(GetParam()));
  Generator gen(m.model);
  std::vector<int32_t> seq = random_tokens(3 * kBlock, 11);
  // Prefill 3 tokens, decode up to a full cache, then restart from half a block and decode again.
  std::vector<int32_t> window(seq.begin(), seq.begin() + 3);
  size_t next = 3;
  const float* logits = gen.prefill(window);
  for (int round = 0; round < 2; ++round) {
    while (true) {
      std::vector<float> got(logits, logits + kVocab);
      std::vector<float> want = m.full_last_logits(window);
      EXPECT_LE(testing::rel_error(got, want), 1e-5) << "position " << window.size() - 1;
      EXPECT_EQ(gen.cached(), static_cast<int64_t>(window.size()));
      if (gen.cached() == kBlock) break;
      window.push_back(seq[next++]);
      logits = gen.decode(window.back());
    }
    EXPECT_THROW(gen.decode(seq[next]), Error);
    window.erase(window.begin(), window.end() - kBlock / 2);
    logits = gen.prefill(window);
  }
}

TEST_P(GeneratorTest, GreedyMatchesFullForwardArgmax) {
  Models m(tiny_config(GetParam()));
  Generator gen(m.model);
  std::vector<int32_t> prompt = random_tokens(5, 3);
  GenerateResult a = gen.generate(prompt, greedy_args(6), std::nullopt);
  GenerateResult b = gen.generate(prompt, greedy_args(6), std::nullopt);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.tokens, reference_greedy(m, prompt, 6));
  EXPECT_FALSE(a.stopped_at_eot);
}

TEST_P(GeneratorTest, LongerThanBlockSize) {
  Models m(tiny_config(GetParam()));
  Generator gen(m.model);
  // A prompt longer than the block is cropped to its last block_size tokens.
  std::vector<int32_t> prompt = random_tokens(kBlock + 3, 5);
  const int64_t n = 4 * kBlock + 3;
  std::vector<int32_t> streamed;
  GenerateResult r =
      gen.generate(prompt, greedy_args(n), std::nullopt, [&](int32_t t) { streamed.push_back(t); });
  ASSERT_EQ(static_cast<int64_t>(r.tokens.size()), n);
  EXPECT_EQ(streamed, r.tokens);
  EXPECT_EQ(r.tokens, reference_greedy(m, prompt, n));
  EXPECT_GT(r.decode_tokens_per_s, 0.0);
  EXPECT_GE(r.prefill_ms, 0.0);
}

TEST_P(GeneratorTest, EmptyPromptStartsFromEotOrZero) {
  Models m(tiny_config(GetParam()));
  Generator gen(m.model);
  GenerateArgs args = greedy_args(5);
  args.stop_at_eot = false;
  EXPECT_EQ(gen.generate({}, args, std::nullopt).tokens, reference_greedy(m, {0}, 5));
  EXPECT_EQ(gen.generate({}, args, 4).tokens, reference_greedy(m, {4}, 5));
}

TEST_P(GeneratorTest, SeedDeterminesSamples) {
  Models m(tiny_config(GetParam()));
  Generator gen(m.model);
  std::vector<int32_t> prompt = random_tokens(4, 9);
  GenerateArgs args;
  args.max_new_tokens = 24;
  args.sampler.temperature = 1.0f;
  args.seed = 1;
  std::vector<int32_t> a = gen.generate(prompt, args, std::nullopt).tokens;
  std::vector<int32_t> b = gen.generate(prompt, args, std::nullopt).tokens;
  args.seed = 2;
  std::vector<int32_t> c = gen.generate(prompt, args, std::nullopt).tokens;
  EXPECT_EQ(a, b);
  // 24 draws from the model's distributions over 13 tokens: equal sequences from two seeds
  // would be an astronomically unlikely coincidence.
  EXPECT_NE(a, c);
  for (int32_t t : a)
    EXPECT_TRUE(t >= 0 && t < kVocab);
}

TEST_P(GeneratorTest, StopsAtEot) {
  Models m(tiny_config(GetParam()));
  Generator gen(m.model);
  std::vector<int32_t> prompt = random_tokens(4, 21);
  std::vector<int32_t> free_run = gen.generate(prompt, greedy_args(12), std::nullopt).tokens;
  // The first position k >= 1 whose token did not appear before: stopping at it keeps k tokens.
  size_t k = 1;
  while (k < free_run.size() &&
         std::find(free_run.begin(), free_run.begin() + k, free_run[k]) != free_run.begin() + k)
    ++k;
  ASSERT_LT(k, free_run.size()) << "greedy run repeats a single token; pick another seed";
  const int32_t eot = free_run[k];
  GenerateResult stopped = gen.generate(prompt, greedy_args(12), eot);
  EXPECT_TRUE(stopped.stopped_at_eot);
  EXPECT_EQ(stopped.tokens, std::vector<int32_t>(free_run.begin(), free_run.begin() + k));
  GenerateArgs no_stop = greedy_args(12);
  no_stop.stop_at_eot = false;
  GenerateResult full = gen.generate(prompt, no_stop, eot);
  EXPECT_FALSE(full.stopped_at_eot);
  EXPECT_EQ(full.tokens, free_run);
}

TEST_P(GeneratorTest, Errors) {
  Models m(tiny_config(GetParam()));
  Generator gen(m.model);
  EXPECT_THROW(gen.generate({1, kVocab}, greedy_args(3), std::nullopt), Error);
  EXPECT_THROW(gen.generate({-1}, greedy_args(3), std::nullopt), Error);
  EXPECT_THROW(gen.generate({1}, greedy_args(-1), std::nullopt), Error);
  EXPECT_THROW(gen.prefill({}), Error);
  EXPECT_TRUE(gen.generate({1}, greedy_args(0), std::nullopt).tokens.empty());
}

INSTANTIATE_TEST_SUITE_P(Arch, GeneratorTest, ::testing::Values("gpt", "llama"));

}  // namespace
}  // namespace moe
