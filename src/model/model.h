// The language model: embeddings -> blocks -> final norm -> LM head -> cross-entropy, with an
// explicit backward. One definition for both architectures and every device.
#pragma once
#include <memory>
#include <vector>

#include "config/config.h"
#include "core/arena.h"
#include "nn/block.h"
#include "nn/context.h"
#include "nn/init.h"
#include "nn/norm.h"
#include "nn/params.h"
#include "ops/device.h"

namespace moe {

struct LossInfo {
  float ce = 0.0f;         // mean cross-entropy
  float aux = 0.0f;        // sum over MoE layers of the load-balancing loss (no coefficient)
  float z = 0.0f;          // sum over MoE layers of the router z-loss (no coefficient)
  float objective = 0.0f;  // ce + aux_loss_coef * aux + z_loss_coef * z
};

class Model {
 public:
  // Registers and allocates every parameter (values uninitialised: call init_parameters or load).
  // ArenaMode::Measure builds a model that holds no memory: its parameter table and its
  // allocate* calls only count bytes (weight_bytes, activation_bytes), for memory estimates and
  // for checking a checkpoint's tensor names and shapes before anything is allocated. Such a
  // model cannot run.
  explicit Model(const ModelConfig& cfg, ArenaMode mode = ArenaMode::Allocate);
  void init_parameters(uint64_t seed) { params_.initialize(seed); }
  // Activations for calls of up to (batch, seq); seq <= block_size.
  void allocate(int64_t batch, int64_t seq);
  // KV caches for batch-1 decoding (needs allocate(1, block_size)).
  void allocate_kv_cache();

  // tokens (B, T) I32; targets (B, T) I32 or empty (then only logits are computed).
  LossInfo forward(const ForwardContext& ctx, const Tensor& tokens, const Tensor& targets);
  // Gradients of the last forward's objective (times ctx.loss_scale), accumulated into the
  // parameter gradients. Needs a forward with targets and the same ctx.
  void backward(const ForwardContext& ctx);
  // (B*T, V) logits of the last forward (overwritten by backward).
  Tensor logits() const { return logits_.rows(0, last_tokens_); }

  const ModelConfig& config() const { return cfg_; }
  ParamTable& params() { return params_; }
  const ParamTable& params() const { return params_; }
  int64_t param_count() const { return params_.numel(); }
  // Memory of the parameter values and gradients, and of the activations allocated so far.
  size_t weight_bytes() const { return params_.bytes_reserved(); }
  size_t activation_bytes() const { return arena_.bytes_reserved(); }
  int64_t active_param_count() const;
  // Training FLOPs per token (forward + backward) at full context, as PaLM counts them
  // (Chowdhery et al. 2022, appendix B): 6 per active non-embedding parameter plus
  // 6 * n_layers * n_embed * (T + 1) for the causal attention scores and weighted sums.
  double flops_per_token() const;
  // Routing statistics of the last forward, one entry per MoE layer (in layer order).
  std::vector<const MoEStats*> moe_stats() const;
  std::vector<int64_t> moe_layer_indices() const { return cfg_.moe_layer_indices(); }
  // The MoE layers, in layer order.
  std::vector<const MoELayer*> moe_layers() const;

 private:
  ModelConfig cfg_;
  ParamTable params_;
  Param* wte_;
  Param* wpe_ = nullptr;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::unique_ptr<Norm> norm_f_;
  LinearParams lm_head_;
  Arena arena_;
  int64_t last_tokens_ = 0;
  Tensor tokens_, targets_;           // (N) I32 copies of the last batch
  Tensor embed_;                      // (N, C) block 0 input
  Tensor losses_;                     // (N)
  Tensor logits_;                     // (N, V); becomes dlogits in backward
  Tensor dresid_a_, dresid_b_;        // (N, C) residual-stream gradients
  Tensor dfinal_;                     // (N, C)
  std::vector<Tensor> block_inputs_;  // views: input of each block for the last forward
};

}  // namespace moe
