#include "nn/init.h"

#include <cmath>

namespace moe {

LinearInit linear_init(const ModelConfig& cfg, int64_t fan_in, int64_t fan_out, bool residual_out) {
  const float in = static_cast<float>(fan_in), out = static_cast<float>(fan_out);
  if (cfg.init == "kaiming") {
    // makeMoE applies torch.nn.init.kaiming_normal_ with its defaults (fan_in mode, leaky_relu
    // gain with slope 0, i.e. sqrt(2)) to every nn.Linear weight and leaves the bias at
    // nn.Linear's own default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's Linear
    // reset_parameters; He et al. 2015 for the weight).
    return {ParamInit::normal(std::sqrt(2.0f / in)), ParamInit::uniform(1.0f / std::sqrt(in))};
  }
  if (cfg.init == "xavier")
    return {ParamInit::normal(std::sqrt(2.0f / (in + out))), ParamInit::zeros()};
  float std = cfg.init_std;
  if (residual_out) std /= std::sqrt(2.0f * static_cast<float>(cfg.n_layers));
  return {ParamInit::normal(std), ParamInit::zeros()};
}

// nn.Embedding's default N(0, 1) for kaiming (makeMoE leaves embeddings at PyTorch's default) and
// xavier; init_std for normal (GPT-2).
ParamInit embedding_init(const ModelConfig& cfg) {
  return ParamInit::normal(cfg.init == "normal" ? cfg.init_std : 1.0f);
}

LinearParams add_linear(ParamTable& table, const std::string& prefix, int64_t out, int64_t in,
                        bool bias, const LinearInit& init) {
  LinearParams p;
  p.weight = table.add(prefix + ".weight", Shape{out, in}, init.weight, /*decay=*/true);
  if (bias) p.bias = table.add(prefix + ".bias", Shape{out}, init.bias, false);
  return p;
}

Tensor bias_value(const LinearParams& p) {
  return p.bias ? p.bias->value : Tensor{};
}
Tensor bias_grad(const LinearParams& p) {
  return p.bias ? p.bias->grad : Tensor{};
}

}  // namespace moe
