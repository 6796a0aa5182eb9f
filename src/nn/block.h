// One transformer block, pre-norm (docs/MODEL.md):
//   h   = x + dropout(Attention(Norm_1(x)))
//   out = h + dropout(FFN(Norm_2(h)))        FFN = dense (one expert group) or MoE
#pragma once
#include <memory>
#include <string>

#include "config/config.h"
#include "core/arena.h"
#include "nn/attention.h"
#include "nn/context.h"
#include "nn/expert_ffn.h"
#include "nn/moe_layer.h"
#include "nn/norm.h"
#include "nn/params.h"

namespace moe {

// Checkpoint names in block `layer`: the prefix of its MoE layer
// ("model.layers.3.block_sparse_moe") and the name of projection `proj` ("w1", "w2", "w3": see
// nn/expert_ffn.h) of its dense FFN, to which ".weight" / ".bias" are appended.
std::string moe_layer_prefix(const ModelConfig& cfg, int64_t layer);
std::string dense_ffn_param_name(const ModelConfig& cfg, int64_t layer, const std::string& proj);

class Block {
 public:
  // exchange: an MoE block's expert parallelism (nn/expert_exchange.h); nullptr: none.
  Block(ParamTable& table, const ModelConfig& cfg, int64_t layer,
        ExpertExchange* exchange = nullptr);
  // Saved activations come from `arena`; buffers used only within one forward or backward call
  // come from `scratch`, which the model rewinds between blocks so that all blocks share them.
  // moe_stats: where an MoE block writes its statistics (a dense block writes none).
  void allocate(Arena& arena, Arena& scratch, int64_t batch, int64_t seq,
                const MoEStatsSlots& moe_stats);
  void allocate_kv_cache(Arena& arena) { attention_.allocate_kv_cache(arena); }
  // Returns out (N, C); x (N, C).
  Tensor forward(const ForwardContext& ctx, const Tensor& x);
  // An MoE block's forward only as far as its routing (MoELayer::route); x (N, C).
  void route(const ForwardContext& ctx, const Tensor& x);
  // dx (N, C) assigned.
  void backward(const ForwardContext& ctx, Tensor dx, const Tensor& dout, const Tensor& x);
  const MoELayer* moe() const { return moe_.get(); }
  MoELayer* moe() { return moe_.get(); }

 private:
  int64_t layer_, n_embed_;
  float dropout_;
  // The FFN branch's dropout before the residual add: dropout_, or 0 for an MoE layer whose
  // experts drop their own outputs (model.expert_dropout).
  float ffn_dropout_;
  Norm norm1_;
  Attention attention_;
  Norm norm2_;
  std::unique_ptr<ExpertFFN> dense_;  // exactly one of dense_ / moe_
  std::unique_ptr<MoELayer> moe_;
  Tensor dense_offsets_;  // (2) I32 {0, N}
  Tensor hidden_;         // (N, C) h
  Tensor out_;            // (N, C)
  // Scratch (shared by all blocks).
  Tensor attn_drop_;             // (N, C) dropout(attention out)
  Tensor ffn_drop_;              // (N, C) dropout(FFN out)
  Tensor dh_, dbranch_, dnorm_;  // (N, C)
  Tensor ffn_forward(const ForwardContext& ctx, const Tensor& a);
  // h = x + dropout(attention(norm1(x))), the FFN branch's input; returns h (N, C).
  Tensor attention_residual(const ForwardContext& ctx, const Tensor& x);
};

}  // namespace moe
