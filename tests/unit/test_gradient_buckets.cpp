// Gradient buckets (train/gradient_buckets.h): the plan covers every parameter's gradients exactly
// once for any bucket size, and the buckets summed during a real backward pass give the sum after
// it, bit for bit.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "model/model.h"
#include "train/gradient_buckets.h"

namespace moe {
namespace {

ModelConfig small_model(const char* preset) {
  ModelConfig m = RunConfig::preset(preset).model;
  m.vocab_size = 13;
  m.n_layers = 3;
  m.n_embed = 16;
  m.n_heads = 2;
  m.n_kv_heads = m.is_gpt() ? m.n_kv_heads : 1;
  m.block_size = 8;
  m.ffn_hidden = 32;
  m.expert_hidden = 0;
  m.n_experts = 4;
  m.top_k = 2;
  return m;
}

// Two ranks that hold the same gradients: every sum doubles its data, which is exact in floating
// point, so a gradient summed twice, never, or before the backward finished it shows in the bits.
class TwoEqualRanks final : public Communicator {
 public:
  explicit TwoEqualRanks(
      std::shared_ptr<std::atomic<int>> sums = std::make_shared<std::atomic<int>>())
      : sums_(std::move(sums)) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  bool concurrent_threads() const override { return true; }
  void all_reduce_sum(Tensor data) override {
    float* x = data.f32();
    for (int64_t i = 0; i < data.numel(); ++i)
      x[i] *= 2.0f;
    ++*sums_;
  }
  void broadcast(Tensor, int) override { FAIL(); }
  void all_gather(Tensor, const Tensor&) override { FAIL(); }
  void reduce_scatter_sum(Tensor, const Tensor&) override { FAIL(); }
  void all_to_all_v(Tensor, std::span<const int64_t>, const Tensor&,
                    std::span<const int64_t>) override {
    FAIL();
  }
  std::unique_ptr<Communicator> split(int, int) override {
    return std::make_unique<TwoEqualRanks>(sums_);
  }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }
  int sums() const { return *sums_; }

 private:
  std::shared_ptr<std::atomic<int>> sums_;  // all_reduce_sum calls, shared with split()'s
};

TEST(GradientBuckets, ThePlanCoversEveryParameterOnceFromTheEnd) {
  const Model model(small_model("makemoe"));
  const ParamTable& table = model.params();
  const int64_t numel = table.numel();
  std::vector<int64_t> offsets;  // parameter boundaries, ascending
  for (const Param& p : table.params())
    offsets.push_back(p.offset);
  const int64_t params = std::ssize(offsets);
  for (int64_t bytes : {int64_t{1}, int64_t{4}, int64_t{1000}, int64_t{4096}, 4 * numel - 4,
                        4 * numel, int64_t{25} << 20}) {
    const std::vector<ElementRange> buckets = plan_gradient_buckets(table, bytes);
    const int64_t limit = (bytes + 3) / 4;
    int64_t end = numel;
    for (const ElementRange& b : buckets) {
      EXPECT_EQ(b.end, end) << bytes;
      EXPECT_LT(b.begin, b.end) << bytes;
      EXPECT_TRUE(std::find(offsets.begin(), offsets.end(), b.begin) != offsets.end()) << bytes;
      // Full, unless it is the last; without its first parameter it would not be.
      if (b.begin > 0) EXPECT_GE(b.size(), limit) << bytes;
      const auto next = std::upper_bound(offsets.begin(), offsets.end(), b.begin);
      if (next != offsets.end() && *next < b.end) EXPECT_LT(b.end - *next, limit) << bytes;
      end = b.begin;
    }
    EXPECT_EQ(end, 0) << bytes;
    if (bytes <= 4) EXPECT_EQ(std::ssize(buckets), params);  // one per parameter
    if (bytes >= 4 * numel) EXPECT_EQ(buckets.size(), 1u);   // one for all
  }
}

// Two micro-batches, the second with the hook: the gradients the buckets summed during its
// backward equal those summed after it (here, doubled), for GPT- and Llama-style models and
// buckets from one per parameter to one for all.
TEST(GradientBuckets, SumsDuringTheBackwardEqualTheSumAfterIt) {
  for (const char* preset : {"makemoe", "llama-moe-tiny"}) {
    const ModelConfig cfg = small_model(preset);
    const int64_t b = 2, t = cfg.block_size;
    std::vector<int32_t> tokens, targets;  // (2, b, t): two micro-batches
    for (int64_t i = 0; i < 2 * b * t; ++i) {
      tokens.push_back(static_cast<int32_t>((7 * i + 3) % cfg.vocab_size));
      targets.push_back(static_cast<int32_t>((5 * i + 1) % cfg.vocab_size));
    }
    // Runs both micro-batches on a fresh model; the second's backward calls `done`.
    auto gradients = [&](Model& model, const Model::GradientsDone& done) {
      model.init_parameters(5);
      model.allocate(b, t);
      model.params().zero_grads();
      ForwardContext ctx;
      ctx.training = true;
      ctx.batch = b;
      ctx.seq = t;
      ctx.loss_scale = 0.5f;
      for (int64_t micro = 0; micro < 2; ++micro) {
        ctx.key = static_cast<uint64_t>(micro);
        model.forward(ctx, cpu_tensor(tokens.data() + micro * b * t, {b, t}),
                      cpu_tensor(targets.data() + micro * b * t, {b, t}));
        model.backward(ctx, micro == 1 ? done : nullptr);
      }
    };
    Model reference(cfg);
    gradients(reference, nullptr);
    const int64_t n = reference.param_count();
    std::vector<float> expected(reference.params().flat_grads().f32(),
                                reference.params().flat_grads().f32() + n);
    for (float& g : expected)
      g *= 2.0f;
    for (int64_t bytes : {int64_t{1}, int64_t{2000}, int64_t{25} << 20}) {
      Model model(cfg);
      TwoEqualRanks comm;
      GradientBuckets buckets(comm, model.params(), bytes);
      for (int step = 0; step < 2; ++step) {  // the buckets start over every step
        const int before = comm.sums();
        gradients(model, [&](int64_t first) { buckets.gradients_done(first); });
        buckets.wait();
        EXPECT_EQ(comm.sums() - before, std::ssize(buckets.buckets())) << preset << " " << bytes;
        EXPECT_EQ(std::memcmp(model.params().flat_grads().f32(), expected.data(),
                              static_cast<size_t>(n) * sizeof(float)),
                  0)
            << preset << ", buckets of " << bytes << " bytes, step " << step;
      }
    }
  }
}

// Without the hook (a backward that reports nothing), wait() sends every bucket itself.
TEST(GradientBuckets, WaitSendsWhatTheBackwardDidNotHand) {
  Model model(small_model("makemoe"));
  model.init_parameters(5);
  float* g = model.params().flat_grads().f32();
  for (int64_t i = 0; i < model.param_count(); ++i)
    g[i] = static_cast<float>(i % 7) - 3.0f;
  TwoEqualRanks comm;
  GradientBuckets buckets(comm, model.params(), 1000);
  buckets.gradients_done(model.param_count() / 2);  // some buckets during the "backward"
  buckets.wait();
  for (int64_t i = 0; i < model.param_count(); ++i)
    ASSERT_EQ(g[i], 2.0f * (static_cast<float>(i % 7) - 3.0f)) << i;
}

}  // namespace
}  // namespace moe
