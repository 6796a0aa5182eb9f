// Causal self-attention sub-layer: q/k/v projections, RoPE (llama), grouped-query attention,
// output projection. Decoding keeps a KV cache of the positions seen so far (batch 1).
#pragma once
#include <string>

#include "config/config.h"
#include "core/arena.h"
#include "nn/context.h"
#include "nn/gemm.h"
#include "nn/init.h"
#include "nn/params.h"

namespace moe {

class Attention {
 public:
  Attention(ParamTable& table, const std::string& prefix, const ModelConfig& cfg, int64_t layer);
  // Saved activations from `arena`, buffers of one call from `scratch` (see Block::allocate).
  void allocate(Arena& arena, Arena& scratch, int64_t batch, int64_t seq);
  // Cache for batch-1 decoding of up to block_size positions.
  void allocate_kv_cache(Arena& arena);
  // Returns out (N, C); x (N, C) is the normalised input.
  Tensor forward(const ForwardContext& ctx, const Tensor& x);
  // dx (N, C) assigned.
  void backward(const ForwardContext& ctx, Tensor dx, const Tensor& dout, const Tensor& x);

 private:
  const ParamTable* table_;
  int64_t layer_, n_embed_, n_heads_, n_kv_heads_, head_dim_, block_size_;
  bool rope_;
  float rope_theta_, dropout_;
  float scale_;  // multiplies q.k; 0: 1/sqrt(head_dim)
  LinearParams wq_, wk_, wv_, wo_;
  // Saved activations (buffers for the largest call).
  Tensor q_;    // (B, T, H, D) after RoPE
  Tensor k_;    // (B, T, H_kv, D) after RoPE
  Tensor v_;    // (B, T, H_kv, D)
  Tensor lse_;  // (B, H, T) log-sum-exp of each query's scores (the backward recomputes the rest)
  Tensor att_;  // (B, T, H, D) attention output before the projection
  // Scratch (shared by all layers).
  Tensor out_;           // (B*T, C)
  Tensor dq_, dk_, dv_;  // shapes of q_, k_, v_
  Tensor datt_;          // (B, T, H, D)
  GemmCasts casts_;      // bf16 GEMM inputs (B*T, max(C, H*D)), under mixed precision
  // KV cache (1, block_size, H_kv, D).
  Tensor k_cache_, v_cache_;
  uint64_t dropout_key(const ForwardContext& ctx) const;
};

}  // namespace moe
