// The whole model on CUDA against the CPU's fp32 path: the logits, the losses and every parameter
// gradient of one training forward and backward, from the same parameters and batch, each tensor
// within 1e-4 (norm-wise relative error). Each test is skipped, with the reason, where this build
// or machine has no usable CUDA backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "model/model.h"
#include "ops/elementwise.h"

namespace moe {
namespace {

// fp32 kernels that sum in other orders (cuBLAS against the CPU's GEMM, block reductions) differ
// by a few ulps per operation; 1e-4 leaves room for the depth of a small model and nothing more.
constexpr double kTolerance = 1e-4;

double rel_error(const std::vector<double>& got, const std::vector<double>& ref) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return num == 0.0 ? 0.0 : std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

// A tensor of any device and float dtype, read to the host in fp64.
std::vector<double> host_values(const Tensor& t) {
  if (t.dtype == DType::F64) {
    std::vector<double> out(static_cast<size_t>(t.numel()));
    ops::copy(cpu_tensor(out.data(), t.shape), t);
    return out;
  }
  std::vector<float> f(static_cast<size_t>(t.numel()));
  ops::copy(cpu_tensor(f.data(), t.shape), t);
  return {f.begin(), f.end()};
}

// What one training forward and backward produced, by name, on the host.
struct Pass {
  std::vector<std::string> names;
  std::vector<std::vector<double>> values;
};

Pass train_pass(const ModelConfig& cfg, Device device, std::vector<float>& params,
                std::vector<int32_t>& tokens, std::vector<int32_t>& targets, int64_t b, int64_t t) {
  Model model(cfg, ArenaMode::Allocate, device);
  ops::copy(model.params().flat_values(), cpu_tensor(params.data(), Shape{model.params().numel()}));
  model.allocate(b, t);
  model.params().zero_grads();
  ForwardContext ctx;
  ctx.training = true;
  ctx.batch = b;
  ctx.seq = t;
  ctx.key = 2024;  // dropout masks and router noise: the same draws on every device
  model.forward(ctx, cpu_tensor(tokens.data(), Shape{b, t}),
                cpu_tensor(targets.data(), Shape{b, t}));
  Pass pass;
  pass.names = {"logits", "loss_stats"};
  pass.values = {host_values(model.logits()), host_values(model.loss_stats())};
  model.backward(ctx);
  for (const Param& p : model.params().params()) {
    if (!p.trainable) continue;
    pass.names.push_back("d" + p.name);
    pass.values.push_back(host_values(p.grad));
  }
  return pass;
}

// Runs the model on both devices, checks every output and prints the largest error.
void expect_cuda_matches_cpu(const ModelConfig& cfg, int64_t b, int64_t t) {
  if (find_backend(Device::CUDA) == nullptr)
    GTEST_SKIP() << "no CUDA check: " << missing_backend_reason(Device::CUDA);
  Model init(cfg);
  init.init_parameters(7);
  std::vector<float> params(static_cast<size_t>(init.params().numel()));
  ops::copy(cpu_tensor(params.data(), Shape{init.params().numel()}), init.params().flat_values());
  std::vector<int32_t> tokens, targets;
  for (int64_t i = 0; i < b * t; ++i) {
    tokens.push_back(static_cast<int32_t>((7 * i + 3) % cfg.vocab_size));
    targets.push_back(static_cast<int32_t>((5 * i * i + 1) % cfg.vocab_size));
  }
  const Pass cpu = train_pass(cfg, Device::CPU, params, tokens, targets, b, t);
  const Pass gpu = train_pass(cfg, Device::CUDA, params, tokens, targets, b, t);
  ASSERT_EQ(cpu.names, gpu.names);
  double worst = 0.0;
  std::string worst_name;
  for (size_t i = 0; i < cpu.names.size(); ++i) {
    // Loss statistics are unrelated numbers (a loss, an entropy): each on its own.
    const bool separately = cpu.names[i] == "loss_stats";
    for (size_t j = 0; j < (separately ? cpu.values[i].size() : 1); ++j) {
      const double error = separately ? rel_error({gpu.values[i][j]}, {cpu.values[i][j]})
                                      : rel_error(gpu.values[i], cpu.values[i]);
      EXPECT_LE(error, kTolerance)
          << cpu.names[i] << (separately ? "[" + std::to_string(j) + "]" : "");
      if (error > worst) worst = error, worst_name = cpu.names[i];
    }
  }
  std::printf(
      "cuda vs cpu fp32: %zu tensors (logits, losses, every gradient), largest error %.1e (%s)\n",
      cpu.names.size(), worst, worst_name.c_str());
}

// Two layers, 65 ids (a character vocabulary), 32 positions.
ModelConfig small(ModelConfig m) {
  m.vocab_size = 65;
  m.n_layers = 2;
  m.block_size = 32;
  return m;
}

TEST(CudaModel, GptMoEMatchesTheCpu) {
  // makemoe: learned positions, LayerNorm, noisy top-k router, ReLU experts, dropout.
  ModelConfig m = small(RunConfig::preset("makemoe").model);
  m.n_embed = 64;
  m.n_heads = 4;
  m.ffn_hidden = 128;
  m.z_loss_coef = 0.001f;
  expect_cuda_matches_cpu(m, 3, 32);
}

TEST(CudaModel, LlamaMoEMatchesTheCpu) {
  // llama-moe-tiny: RoPE, RMSNorm, grouped-query attention, SwiGLU experts, aux and z losses.
  expect_cuda_matches_cpu(small(RunConfig::preset("llama-moe-tiny").model), 3, 32);
}

}  // namespace
}  // namespace moe
