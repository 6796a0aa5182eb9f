// Initial parameter distributions (docs/MODEL.md, "Initialisation"), checked on whole models:
// `kaiming` must draw what the makeMoE tutorial's PyTorch code draws (bench/makemoe_pytorch.py:
// kaiming_normal_ on nn.Linear weights, PyTorch's defaults for everything else).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/rng_streams.h"
#include "model/model.h"
#include "ops/device.h"
#include "ops/elementwise.h"

namespace moe {
namespace {

enum class Dist { Zeros, Ones, Normal, Uniform };

// What one parameter should hold: N(0, scale^2), U(-scale, scale), or a constant.
struct Expected {
  Dist dist;
  double scale = 0.0;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The rules of docs/MODEL.md, written out independently of src/nn/init.cpp.
Expected expected_init(const ModelConfig& cfg, const ParamTable& table, const Param& p) {
  const std::string& n = p.name;
  const bool norm = contains(n, "ln_") || contains(n, "layernorm") || n == "model.norm.weight";
  if (norm) return {ends_with(n, ".weight") ? Dist::Ones : Dist::Zeros};
  const bool embedding = contains(n, "wte") || contains(n, "wpe") || contains(n, "embed_tokens");
  if (embedding) return {Dist::Normal, cfg.init == "normal" ? cfg.init_std : 1.0};
  if (ends_with(n, ".bias")) {
    if (cfg.init != "kaiming") return {Dist::Zeros};
    const Param* w = table.find(n.substr(0, n.size() - 5) + ".weight");
    EXPECT_NE(w, nullptr) << n;
    return {Dist::Uniform, 1.0 / std::sqrt(static_cast<double>(w->shape.dims[1]))};
  }
  const double fan_in = static_cast<double>(p.shape.dims[1]);
  const double fan_out = static_cast<double>(p.shape.dims[0]);
  if (cfg.init == "kaiming") return {Dist::Normal, std::sqrt(2.0 / fan_in)};
  if (cfg.init == "xavier") return {Dist::Normal, std::sqrt(2.0 / (fan_in + fan_out))};
  const bool residual_out = contains(n, "c_proj.weight") || contains(n, "o_proj.weight") ||
                            contains(n, "down_proj.weight") || contains(n, ".w2.weight");
  return {Dist::Normal,
          cfg.init_std / (residual_out ? std::sqrt(2.0 * static_cast<double>(cfg.n_layers)) : 1.0)};
}

// Sample moments of standardised values z = x / scale.
struct Moments {
  double n = 0, sum = 0, sum2 = 0, sum4 = 0, max_abs = 0;
  void add(double z) {
    n += 1;
    sum += z;
    sum2 += z * z;
    sum4 += z * z * z * z;
    max_abs = std::max(max_abs, std::abs(z));
  }
  double mean() const { return sum / n; }
  double var() const { return sum2 / n - mean() * mean(); }
  double kurtosis() const { return (sum4 / n) / (var() * var()); }
};

// Mean, variance and (for pools) kurtosis within 5 standard errors of N(0, 1) (variance 1,
// E z^4 = 3, E z^8 = 105) or U(-1, 1) (1/3, 1/5, 1/9); uniform values never leave [-1, 1).
void expect_standard(const Moments& m, Dist dist, const std::string& what, bool with_kurtosis) {
  const bool normal = dist == Dist::Normal;
  const double var = normal ? 1.0 : 1.0 / 3.0;
  const double z4 = normal ? 3.0 : 1.0 / 5.0, z8 = normal ? 105.0 : 1.0 / 9.0;
  EXPECT_LT(std::abs(m.mean()), 5.0 * std::sqrt(var / m.n)) << what;
  EXPECT_LT(std::abs(m.var() - var), 5.0 * std::sqrt((z4 - var * var) / m.n)) << what;
  if (with_kurtosis) {
    // Kurtosis 3 against 9/5: this tells a normal from a uniform of the same variance.
    EXPECT_NEAR(m.kurtosis(), z4 / (var * var), 5.0 * std::sqrt((z8 - z4 * z4) / m.n) / (var * var))
        << what;
  }
  if (!normal) {
    EXPECT_LE(m.max_abs, 1.0) << what;
    if (with_kurtosis) EXPECT_GT(m.max_abs, 0.999) << what;
  }
}

// Checks every parameter of a freshly initialised model against expected_init: constants
// exactly, random tensors of 4096+ values one by one, and all normal / all uniform values pooled
// (which also tells the two shapes apart by their kurtosis). Returns the pools' sizes.
std::pair<double, double> check_model_init(const ModelConfig& cfg, uint64_t seed) {
  Model model(cfg);
  model.init_parameters(seed);
  Moments normal_pool, uniform_pool;
  for (const Param& p : model.params().params()) {
    const Expected e = expected_init(cfg, model.params(), p);
    const float* x = p.value.f32();
    const int64_t n = p.value.numel();
    if (e.dist == Dist::Zeros || e.dist == Dist::Ones) {
      const float want = e.dist == Dist::Ones ? 1.0f : 0.0f;
      int64_t wrong = 0;
      for (int64_t i = 0; i < n; ++i)
        wrong += x[i] != want;
      EXPECT_EQ(wrong, 0) << p.name;
      continue;
    }
    Moments m;
    Moments& pool = e.dist == Dist::Normal ? normal_pool : uniform_pool;
    for (int64_t i = 0; i < n; ++i) {
      m.add(x[i] / e.scale);
      pool.add(x[i] / e.scale);
    }
    if (n >= 4096) expect_standard(m, e.dist, p.name, /*with_kurtosis=*/false);
  }
  if (normal_pool.n > 0) expect_standard(normal_pool, Dist::Normal, "normal values", true);
  if (uniform_pool.n > 0) expect_standard(uniform_pool, Dist::Uniform, "uniform values", true);
  return {normal_pool.n, uniform_pool.n};
}

TEST(Init, KaimingDrawsWhatTheTutorialsPyTorchCodeDraws) {
  const ModelConfig cfg = RunConfig::preset("makemoe").model;
  ASSERT_EQ(cfg.init, "kaiming");
  const auto [normal, uniform] = check_model_init(cfg, 7);
  EXPECT_EQ(normal + uniform, Model(cfg).param_count() - 4 * 8 * 128 - 2 * 128);  // not norms
  // Every linear bias is drawn: per layer the attention output, both routers and the experts.
  EXPECT_EQ(uniform, 8 * (128 + 8 + 8 + 8 * (512 + 128)) + 65);
}

TEST(Init, KaimingAppliesToDenseLayersAndSharedExpertsToo) {
  ModelConfig cfg = RunConfig::preset("makemoe").model;
  cfg.n_layers = 2;
  cfg.moe_layers = "1";
  cfg.n_shared_experts = 1;
  cfg.router = "topk";
  check_model_init(cfg, 11);
}

TEST(Init, OtherSchemesKeepZeroBiases) {
  ModelConfig cfg = RunConfig::preset("makemoe").model;
  cfg.n_layers = 2;
  for (const char* scheme : {"normal", "xavier"}) {
    cfg.init = scheme;
    const auto [normal, uniform] = check_model_init(cfg, 3);
    EXPECT_GT(normal, 0) << scheme;
    EXPECT_EQ(uniform, 0) << scheme;
  }
}

TEST(Init, LlamaModelsHaveNoBiasesUnderAnyScheme) {
  ModelConfig cfg = RunConfig::preset("llama-moe-tiny").model;
  for (const char* scheme : {"normal", "kaiming", "xavier"}) {
    cfg.init = scheme;
    EXPECT_EQ(check_model_init(cfg, 5).second, 0) << scheme;
  }
}

// Each tensor is a function of (seed, its registration index) only, so adding parameters after it
// or changing another tensor's scheme leaves its values alone.
TEST(Init, DrawsAreFunctionsOfSeedAndParameterIndex) {
  ModelConfig cfg = RunConfig::preset("makemoe").model;
  cfg.n_layers = 1;
  Model model(cfg);
  model.init_parameters(42);
  const Param* bias = model.params().find("transformer.h.0.attn.c_proj.bias");
  ASSERT_NE(bias, nullptr);
  Arena arena{ops::device_memory(Device::CPU)};
  Tensor want = arena.alloc(bias->shape);
  const float bound = 1.0f / std::sqrt(128.0f);
  ops::fill_uniform(want, -bound, bound, rng_key(42, rng_substream::kParamValues, bias->index));
  for (int64_t i = 0; i < want.numel(); ++i)
    ASSERT_EQ(bias->value.f32()[i], want.f32()[i]) << i;

  cfg.n_layers = 2;
  Model bigger(cfg);
  bigger.init_parameters(42);
  const Param* same = bigger.params().find(bias->name);
  ASSERT_EQ(same->index, bias->index);
  for (int64_t i = 0; i < want.numel(); ++i)
    ASSERT_EQ(same->value.f32()[i], want.f32()[i]) << i;
}

}  // namespace
}  // namespace moe
