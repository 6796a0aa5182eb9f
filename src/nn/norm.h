// Pre-norm layer: LayerNorm (gpt) or RMSNorm (llama), chosen by the architecture.
#pragma once
#include <string>

#include "config/config.h"
#include "core/arena.h"
#include "nn/params.h"

namespace moe {

class Norm {
 public:
  // Registers PREFIX.weight (C) and, for LayerNorm, PREFIX.bias (C).
  Norm(ParamTable& table, const std::string& prefix, const ModelConfig& cfg);
  void allocate(Arena& arena, int64_t max_rows);
  // Returns out (N, C), a view of this layer's buffer; x (N, C).
  Tensor forward(const Tensor& x);
  // The first `rows` rows of the last forward's output.
  Tensor forward_output(int64_t rows) const { return out_.rows(0, rows); }
  // dx (N, C) assigned; parameter gradients accumulated.
  void backward(Tensor dx, const Tensor& dout, const Tensor& x);

 private:
  bool layer_norm_;
  float eps_;
  int64_t channels_;
  Param* weight_;
  Param* bias_ = nullptr;
  Tensor out_;   // (max_rows, C)
  Tensor mean_;  // (max_rows) LayerNorm only
  Tensor rstd_;  // (max_rows)
};

}  // namespace moe
