#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "core/arena.h"
#include "model/safetensors.h"
#include "nn/expert_exchange.h"
#include "ops/device.h"
#include "train/train_state.h"
#include "unit/scratch.h"

namespace moe {
namespace {

// Group rank `rank` of an expert-parallel group of `size`: only its layout of the experts is used
// (the model is loaded, never run).
class ExpertSlice final : public ExpertExchange {
 public:
  ExpertSlice(int64_t size, int64_t rank, int64_t n_experts)
      : ExpertExchange(size, rank * (n_experts / size), n_experts / size) {}
  ExpertExchangePlan plan(Tensor, const Tensor&) override { throw std::logic_error("not run"); }
  void to_experts(Tensor, const Tensor&, const ExpertExchangePlan&) override {
    throw std::logic_error("not run");
  }
  void from_experts(Tensor, const Tensor&, const ExpertExchangePlan&) override {
    throw std::logic_error("not run");
  }
};

class TrainStateTest : public ::testing::Test {
 protected:
  TrainStateTest() : model_(config().model) {
    model_.init_parameters(1);
    state_.step = 3;
    state_.adam_m = arena_.alloc(Shape{model_.param_count()});
    state_.adam_v = arena_.alloc(Shape{model_.param_count()});
  }
  static RunConfig config() {
    RunConfig c = RunConfig::preset("makemoe");
    c.model.n_layers = 1;
    c.model.n_embed = 16;
    c.model.n_heads = 2;
    c.model.ffn_hidden = 16;
    c.model.n_experts = 2;
    c.model.block_size = 8;
    c.model.vocab_size = 10;
    return c;
  }
  const Param& second_param() const { return model_.params().params()[1]; }

  testing::ScratchDir dir_;
  Model model_;
  Arena arena_{ops::device_memory(Device::CPU)};
  TrainState state_;
};

TEST_F(TrainStateTest, RoundTrips) {
  state_.adam_m.f32()[5] = -0.25f;
  state_.adam_v.f32()[5] = 0.5f;
  state_.best_val_loss = 1.5f;
  save_train_state(dir_.str(), config(), model_, state_);
  // The weights' step must match (load checks that they come from the same save).
  write_safetensors(dir_ / "model.safetensors", {}, {{"step", "3"}});
  TrainState back;
  back.adam_m = arena_.alloc(Shape{model_.param_count()});
  back.adam_v = arena_.alloc(Shape{model_.param_count()});
  load_train_state(dir_.str(), model_, back);
  EXPECT_EQ(back.step, 3);
  EXPECT_EQ(back.best_val_loss, 1.5f);
  EXPECT_EQ(back.adam_m.f32()[5], -0.25f);
  EXPECT_EQ(back.adam_v.f32()[5], 0.5f);
}

// A ZeRO-1 process reads its shard of the file's moments.
TEST_F(TrainStateTest, LoadsAShardOfTheMoments) {
  for (int64_t i = 0; i < model_.param_count(); ++i) {
    state_.adam_m.f32()[i] = static_cast<float>(i);
    state_.adam_v.f32()[i] = static_cast<float>(2 * i);
  }
  save_train_state(dir_.str(), config(), model_, state_);
  write_safetensors(dir_ / "model.safetensors", {}, {{"step", "3"}});
  TrainState shard;
  shard.moments_first = 5;
  shard.adam_m = arena_.alloc(Shape{4});
  shard.adam_v = arena_.alloc(Shape{4});
  load_train_state(dir_.str(), model_, shard);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(shard.adam_m.f32()[i], static_cast<float>(5 + i));
    EXPECT_EQ(shard.adam_v.f32()[i], static_cast<float>(2 * (5 + i)));
  }
  shard.moments_first = model_.param_count() - 2;  // past the end
  EXPECT_THROW(load_train_state(dir_.str(), model_, shard), Error);
}

// An expert-parallel process holds a slice of the experts: it reads its own parameters' moments,
// found by name in the file's whole table.
TEST_F(TrainStateTest, AnExpertSliceReadsItsOwnParametersMoments) {
  const int64_t n = model_.param_count();
  for (int64_t i = 0; i < n; ++i) {  // each element's moments tell its place in the whole table
    state_.adam_m.f32()[i] = static_cast<float>(i);
    state_.adam_v.f32()[i] = static_cast<float>(2 * i);
  }
  save_train_state(dir_.str(), config(), model_, state_);
  write_safetensors(dir_ / "model.safetensors", {}, {{"step", "3"}});
  for (int64_t rank : {0, 1}) {
    ExpertSlice slice(2, rank, config().model.n_experts);
    const Model part(config().model, ArenaMode::Allocate, Device::CPU, &slice);
    ASSERT_LT(part.param_count(), n);
    TrainState back;
    back.adam_m = arena_.alloc(Shape{part.param_count()});
    back.adam_v = arena_.alloc(Shape{part.param_count()});
    load_train_state(dir_.str(), part, back);
    int64_t wrong = 0, experts = 0;
    for (const Param& p : part.params().params()) {
      const Param* whole = model_.params().find(p.name);
      ASSERT_NE(whole, nullptr) << p.name;
      experts += p.expert_slice;
      for (int64_t i = 0; i < p.shape.numel(); ++i) {
        wrong += back.adam_m.f32()[p.offset + i] != static_cast<float>(whole->offset + i);
        wrong += back.adam_v.f32()[p.offset + i] != static_cast<float>(2 * (whole->offset + i));
      }
    }
    EXPECT_EQ(wrong, 0) << "group rank " << rank;
    EXPECT_GT(experts, 0) << "group rank " << rank;
  }
}

TEST_F(TrainStateTest, NonFiniteOrNegativeMomentsAreNeverSaved) {
  const int64_t index = second_param().offset + 2;
  for (auto [tensor, name, value] : {std::tuple{state_.adam_m, "adam.m", std::nanf("")},
                                     std::tuple{state_.adam_v, "adam.v", INFINITY},
                                     std::tuple{state_.adam_v, "adam.v", -1e-3f}}) {
    for (const Tensor& t : {state_.adam_m, state_.adam_v})
      std::fill(t.f32(), t.f32() + t.numel(), 0.0f);
    tensor.f32()[index] = value;
    const std::string message =
        testing::error_of([&] { save_train_state(dir_.str(), config(), model_, state_); });
    EXPECT_NE(
        message.find(std::string("not saving the checkpoint of step 3: optimizer state ") + name),
        std::string::npos)
        << message;
    EXPECT_NE(message.find("(element " + std::to_string(index) + ", parameter " +
                           second_param().name + ")"),
              std::string::npos)
        << message;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "train_state.safetensors"));
  }
}

TEST_F(TrainStateTest, ANegativeSecondMomentIsRefusedOnLoad) {
  // Written around the check, as a damaged or foreign file could hold it.
  state_.adam_v.f32()[0] = -2.0f;
  write_safetensors(dir_ / "train_state.safetensors",
                    {{"adam.m", state_.adam_m}, {"adam.v", state_.adam_v}}, {{"step", "3"}});
  write_safetensors(dir_ / "model.safetensors", {}, {{"step", "3"}});
  const std::string message =
      testing::error_of([&] { load_train_state(dir_.str(), model_, state_); });
  EXPECT_NE(message.find("adam.v holds the negative second moment -2 (element 0, parameter " +
                         model_.params().params()[0].name + "); it cannot be resumed"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace moe
