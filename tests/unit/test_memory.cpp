#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/arena.h"
#include "core/fs.h"
#include "core/memory.h"
#include "generate/generator.h"
#include "model/model.h"
#include "ops/device.h"
#include "train/run_buffers.h"
#include "train/trainer.h"
#include "unit/scratch.h"

namespace moe {
namespace {

using testing::ScratchDir;

constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(Memory, FormatBytes) {
  EXPECT_EQ(format_bytes(950), "950 B");
  EXPECT_EQ(format_bytes(12 * 1024), "12.00 KiB");
  EXPECT_EQ(format_bytes(1.25 * kGiB), "1.25 GiB");
  EXPECT_EQ(format_bytes(3.0 * 1024 * kGiB), "3.00 TiB");
}

TEST(Memory, MemAvailableAndTheLowerCgroupHeadroom) {
  ScratchDir dir;
  write_file_atomic(dir / "meminfo", "MemTotal: 16000000 kB\nMemAvailable:    8000000 kB\n");
  // No cgroup files: MemAvailable.
  auto a = available_memory(dir / "meminfo", dir / "no_cgroup");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->bytes, uint64_t{8000000} * 1024);
  EXPECT_NE(a->source.find("MemAvailable"), std::string::npos);
  // cgroup v2 with a limit of 2 GiB, 0.5 GiB in use: 1.5 GiB is lower.
  std::filesystem::create_directories(dir / "v2");
  write_file_atomic(dir / "v2/memory.max", std::to_string(2 * kGiB) + "\n");
  write_file_atomic(dir / "v2/memory.current", std::to_string(kGiB / 2) + "\n");
  a = available_memory(dir / "meminfo", dir / "v2");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->bytes, 3 * kGiB / 2);
  EXPECT_NE(a->source.find("cgroup limit 2.00 GiB"), std::string::npos) << a->source;
  // v2 without a limit ("max") leaves MemAvailable.
  write_file_atomic(dir / "v2/memory.max", "max\n");
  EXPECT_EQ(available_memory(dir / "meminfo", dir / "v2")->bytes, uint64_t{8000000} * 1024);
  // cgroup v1, and usage above the limit.
  std::filesystem::create_directories(dir / "v1/memory");
  write_file_atomic(dir / "v1/memory/memory.limit_in_bytes", "1000\n");
  write_file_atomic(dir / "v1/memory/memory.usage_in_bytes", "2000\n");
  EXPECT_EQ(available_memory(dir / "meminfo", dir / "v1")->bytes, 0u);
  // Nothing readable: unknown.
  EXPECT_FALSE(available_memory(dir / "missing", dir / "missing"));
}

TEST(Memory, RequireMemoryNamesNeedAvailabilityAndFix) {
  const MemoryUse need{3 * kGiB, 2 * kGiB, kGiB};
  EXPECT_NO_THROW(require_memory(need, AvailableMemory{6 * kGiB, "test"}, "this run", "fix"));
  EXPECT_NO_THROW(require_memory(need, std::nullopt, "this run", "fix"));
  EXPECT_EQ(testing::error_of([&] {
              require_memory(need, AvailableMemory{5 * kGiB, "MemAvailable in /proc/meminfo"},
                             "this run", "use a smaller model");
            }),
            "this run needs about 6.00 GiB (weights and gradients 3.00 GiB, optimizer state "
            "2.00 GiB, activations 1.00 GiB) but only 5.00 GiB is available (MemAvailable in "
            "/proc/meminfo); use a smaller model");
}

TEST(Memory, AMeasuringArenaCountsWhatAnAllocatingOneTakes) {
  for (size_t block : {size_t{0}, size_t{1000}, Arena::kDefaultBlockBytes}) {
    Arena real(ops::device_memory(Device::CPU), block),
        measured(ops::device_memory(Device::CPU), block, ArenaMode::Measure);
    for (Shape s : {Shape{3}, Shape{100, 7}, Shape{0}, Shape{512, 512}, Shape{5}}) {
      EXPECT_FALSE(real.alloc(s).empty());
      EXPECT_TRUE(measured.alloc(s, DType::I32).empty());
    }
    EXPECT_EQ(measured.bytes_reserved(), real.bytes_reserved()) << block;
    EXPECT_EQ(measured.bytes_allocated(), real.bytes_allocated()) << block;
  }
  EXPECT_NE(testing::error_of([] {
              Arena(ops::device_memory(Device::CPU), ArenaMode::Measure)
                  .alloc(Shape{int64_t{1} << 62, 8});
            }).find("more elements than an int64 can count"),
            std::string::npos);
}

// A rewound arena hands its memory out again, zero-filled, and grows only when an owner needs
// more than any before it; a measuring arena counts the same.
TEST(Memory, ARewoundArenaHandsOutTheSameMemoryAgain) {
  for (ArenaMode mode : {ArenaMode::Allocate, ArenaMode::Measure}) {
    Arena arena(ops::device_memory(Device::CPU), 4096, mode);
    const Tensor first = arena.alloc(Shape{256});  // 1 KiB
    const Tensor second = arena.alloc(Shape{512});
    EXPECT_EQ(arena.bytes_allocated(), 3072u);
    if (mode == ArenaMode::Allocate) first.f32()[5] = 7.0f;
    arena.rewind();
    EXPECT_EQ(arena.bytes_allocated(), 0u);
    const Tensor again = arena.alloc(Shape{512});
    const Tensor bigger = arena.alloc(Shape{1024});  // 4 KiB: past the first block's end
    EXPECT_EQ(arena.bytes_reserved(), 4096u + 4096u);
    arena.rewind();
    arena.alloc(Shape{1024});
    arena.alloc(Shape{1024});  // the first block, then the second: nothing new
    EXPECT_EQ(arena.bytes_reserved(), 4096u + 4096u);
    if (mode == ArenaMode::Allocate) {
      EXPECT_EQ(again.ptr, first.ptr);
      EXPECT_NE(bigger.ptr, first.ptr);
      EXPECT_EQ(again.f32()[5], 0.0f);
    } else {
      EXPECT_TRUE(again.empty());
      EXPECT_TRUE(second.empty());
    }
  }
}

// The blocks share one set of scratch buffers (rewound for each block): deeper models add saved
// activations only. The Llama-style configuration of the long-context benchmark, measured.
TEST(Memory, BlocksShareOneSetOfScratchBuffers) {
  ModelConfig m = RunConfig::preset("llama-moe-tiny").model;
  m.n_embed = 256;
  m.n_heads = 8;
  m.n_kv_heads = 2;
  m.ffn_hidden = 512;
  m.n_experts = 8;
  m.block_size = 2048;
  size_t scratch_of_one = 0;
  for (int64_t layers : {1, 4}) {
    m.n_layers = layers;
    Model model(m, ArenaMode::Measure);
    model.allocate(4, m.block_size);
    if (layers == 1) scratch_of_one = model.scratch_bytes();
    EXPECT_EQ(model.scratch_bytes(), scratch_of_one) << layers;
    EXPECT_GT(model.scratch_bytes(), size_t{100} << 20) << layers;
    EXPECT_LT(model.scratch_bytes(), model.activation_bytes()) << layers;
  }
}

RunConfig tiny(const std::string& preset) {
  RunConfig c = RunConfig::preset(preset);
  c.data.source = "synthetic";
  c.data.synthetic_tokens = 4000;
  c.model.vocab_size = 16;
  c.model.n_layers = 2;
  c.model.n_embed = 32;
  c.model.n_heads = 4;
  c.model.block_size = 16;
  c.model.ffn_hidden = 48;
  c.model.n_experts = 4;
  c.train.batch_size = 8;
  c.train.steps = 2;
  c.train.eval_every = 0;
  c.train.eval_iters = 1;
  return c;
}

// The estimate is the run's own allocation code on measuring arenas, so it equals the bytes the
// real run holds.
TEST(Memory, TheTrainingEstimateIsWhatTheTrainerAllocates) {
  for (const std::string preset : {"makemoe", "llama-moe-tiny"}) {
    const RunConfig c = tiny(preset);
    ScratchDir dir;
    TrainOptions options;
    options.out_dir = dir / "run";
    options.quiet = true;
    const MemoryUse real = train(c, options).memory;
    const MemoryUse estimate = training_memory(c);
    EXPECT_EQ(estimate.weights, real.weights) << preset;
    EXPECT_EQ(estimate.optimizer, real.optimizer) << preset;
    EXPECT_EQ(estimate.activations, real.activations) << preset;
    EXPECT_GT(estimate.activations, 0u);
  }
}

TEST(Memory, EvaluationAndGenerationEstimatesAreWhatTheyAllocate) {
  const ModelConfig m = tiny("llama-moe-tiny").model;
  Model eval_model(m);
  const BatchBuffers buffers(eval_model, 5);
  const MemoryUse eval_real = buffers.memory_use(eval_model),
                  eval_estimate = evaluation_memory(m, 5);
  EXPECT_EQ(eval_estimate.weights, eval_real.weights);
  EXPECT_EQ(eval_estimate.activations, eval_real.activations);
  EXPECT_EQ(eval_estimate.optimizer, 0u);

  Model gen_model(m);
  const Generator generator(gen_model);
  const MemoryUse gen_estimate = generation_memory(m);
  EXPECT_EQ(gen_estimate.weights, gen_model.weight_bytes());
  EXPECT_EQ(gen_estimate.activations, gen_model.activation_bytes());
}

// The configuration that used to run until the kernel killed it: estimated in no time, without
// allocating. Parameters alone: 8 layers x 8 experts x 2 x 2048 x 8192 floats = 4 GiB, four times
// over for values, gradients and the two moments.
TEST(Memory, ALargeConfigurationIsEstimatedWithoutAllocating) {
  RunConfig c = RunConfig::preset("makemoe");
  c.model.n_embed = 2048;
  c.model.n_heads = 16;
  c.model.ffn_hidden = 8192;
  const MemoryUse use = training_memory(c);
  EXPECT_GT(use.weights, 8 * kGiB);
  EXPECT_EQ(use.optimizer, use.weights);
  EXPECT_GT(use.total(), 16.0 * kGiB);
}

}  // namespace
}  // namespace moe
