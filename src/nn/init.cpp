#include "nn/init.h"

#include <cmath>

namespace moe {

ParamInit linear_init(const ModelConfig& cfg, int64_t fan_in, int64_t fan_out, bool residual_out) {
  if (cfg.init == "kaiming") return ParamInit::normal(std::sqrt(2.0f / static_cast<float>(fan_in)));
  if (cfg.init == "xavier")
    return ParamInit::normal(std::sqrt(2.0f / static_cast<float>(fan_in + fan_out)));
  float std = cfg.init_std;
  if (residual_out) std /= std::sqrt(2.0f * static_cast<float>(cfg.n_layers));
  return ParamInit::normal(std);
}

ParamInit embedding_init(const ModelConfig& cfg) {
  return ParamInit::normal(cfg.init == "normal" ? cfg.init_std : 1.0f);
}

LinearParams add_linear(ParamTable& table, const std::string& prefix, int64_t out, int64_t in,
                        bool bias, ParamInit init) {
  LinearParams p;
  p.weight = table.add(prefix + ".weight", Shape{out, in}, init, /*decay=*/true);
  if (bias) p.bias = table.add(prefix + ".bias", Shape{out}, ParamInit::zeros(), false);
  return p;
}

Tensor bias_value(const LinearParams& p) {
  return p.bias ? p.bias->value : Tensor{};
}
Tensor bias_grad(const LinearParams& p) {
  return p.bias ? p.bias->grad : Tensor{};
}

}  // namespace moe
