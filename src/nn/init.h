// Initial-value specs for the model's parameters (docs/MODEL.md, "Initialisation").
#pragma once
#include <string>

#include "config/config.h"
#include "nn/params.h"

namespace moe {

// How a linear layer's weight (fan_out, fan_in) and bias (fan_out) start.
struct LinearInit {
  ParamInit weight;
  ParamInit bias;
};

// residual_out marks projections back into the residual stream, which the "normal" scheme
// scales by 1 / sqrt(2 n_layers) (GPT-2).
LinearInit linear_init(const ModelConfig& cfg, int64_t fan_in, int64_t fan_out, bool residual_out);
ParamInit embedding_init(const ModelConfig& cfg);

struct LinearParams {
  Param* weight = nullptr;  // (out, in)
  Param* bias = nullptr;    // (out) or nullptr
};

// Registers PREFIX.weight (out, in) and, when bias, PREFIX.bias (out).
LinearParams add_linear(ParamTable& table, const std::string& prefix, int64_t out, int64_t in,
                        bool bias, const LinearInit& init);

// The bias tensor, or an empty tensor when the layer has none.
Tensor bias_value(const LinearParams& p);
Tensor bias_grad(const LinearParams& p);

}  // namespace moe
