#include "nn/block.h"

#include "core/check.h"
#include "core/rng_streams.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"

namespace moe {

namespace {
std::string layer_prefix(const ModelConfig& cfg, int64_t layer) {
  return (cfg.is_gpt() ? "transformer.h." : "model.layers.") + std::to_string(layer) + ".";
}
}  // namespace

std::string moe_layer_prefix(const ModelConfig& cfg, int64_t layer) {
  return layer_prefix(cfg, layer) + "block_sparse_moe";
}

// GPT-2's mlp.c_fc / mlp.c_proj; Llama's mlp.gate_proj / up_proj / down_proj.
std::string dense_ffn_param_name(const ModelConfig& cfg, int64_t layer, const std::string& proj) {
  const bool gpt = cfg.is_gpt();
  const std::string prefix = layer_prefix(cfg, layer);
  if (proj == "w1") return prefix + (gpt ? "mlp.c_fc" : "mlp.gate_proj");
  if (proj == "w2") return prefix + (gpt ? "mlp.c_proj" : "mlp.down_proj");
  return prefix + "mlp.up_proj";
}

Block::Block(ParamTable& table, const ModelConfig& cfg, int64_t layer, ExpertExchange* exchange)
    : layer_(layer),
      n_embed_(cfg.n_embed),
      dropout_(cfg.dropout),
      ffn_dropout_(cfg.is_moe_layer(layer) && cfg.expert_dropout ? 0.0f : cfg.dropout),
      norm1_(table, layer_prefix(cfg, layer) + (cfg.is_gpt() ? "ln_1" : "input_layernorm"), cfg),
      attention_(table, layer_prefix(cfg, layer) + (cfg.is_gpt() ? "attn" : "self_attn"), cfg,
                 layer),
      norm2_(table, layer_prefix(cfg, layer) + (cfg.is_gpt() ? "ln_2" : "post_attention_layernorm"),
             cfg) {
  if (cfg.is_moe_layer(layer)) {
    moe_ = std::make_unique<MoELayer>(table, moe_layer_prefix(cfg, layer), cfg, layer, exchange);
  } else {
    dense_ = std::make_unique<ExpertFFN>(
        table, cfg, 1, cfg.ffn_hidden,
        [&](int64_t, const std::string& proj) { return dense_ffn_param_name(cfg, layer, proj); });
  }
}

void Block::allocate(Arena& arena, Arena& scratch, int64_t batch, int64_t seq,
                     const MoEStatsSlots& moe_stats) {
  const int64_t n = batch * seq, c = n_embed_;
  norm1_.allocate(arena, n);
  attention_.allocate(arena, scratch, batch, seq);
  norm2_.allocate(arena, n);
  if (moe_) moe_->allocate(arena, scratch, n, moe_stats);
  if (dense_) dense_->allocate(arena, scratch, n);
  dense_offsets_ = arena.alloc(Shape{2}, DType::I32);
  hidden_ = arena.alloc(Shape{n, c});
  out_ = arena.alloc(Shape{n, c});
  attn_drop_ = scratch.alloc(Shape{n, c});
  ffn_drop_ = scratch.alloc(Shape{n, c});
  dh_ = scratch.alloc(Shape{n, c});
  dbranch_ = scratch.alloc(Shape{n, c});
  dnorm_ = scratch.alloc(Shape{n, c});
}

Tensor Block::ffn_forward(const ForwardContext& ctx, const Tensor& a) {
  if (moe_) return moe_->forward(ctx, a);
  write_single_group_offsets(dense_offsets_, a.size(0));
  return dense_->forward(a, dense_offsets_, a.size(0));
}

Tensor Block::attention_residual(const ForwardContext& ctx, const Tensor& x) {
  const int64_t n = x.size(0);
  const float p = ctx.training ? dropout_ : 0.0f;
  Tensor a = norm1_.forward(x);
  Tensor att = attention_.forward(ctx, a);
  if (p > 0.0f) {
    Tensor dropped = attn_drop_.rows(0, n);
    ops::dropout_forward(dropped, att, p,
                         ctx.site_key(layer_, rng_site::kAttentionResidualDropout));
    att = dropped;
  }
  Tensor h = hidden_.rows(0, n);
  ops::add(h, x, att);
  return h;
}

void Block::route(const ForwardContext& ctx, const Tensor& x) {
  MOE_CHECK(moe_ != nullptr, "block ", layer_, ": routing needs an MoE layer");
  moe_->route(ctx, norm2_.forward(attention_residual(ctx, x)));
}

Tensor Block::forward(const ForwardContext& ctx, const Tensor& x) {
  const int64_t n = x.size(0);
  const float p = ctx.training ? ffn_dropout_ : 0.0f;
  Tensor h = attention_residual(ctx, x);
  Tensor f = ffn_forward(ctx, norm2_.forward(h));
  if (p > 0.0f) {
    Tensor dropped = ffn_drop_.rows(0, n);
    ops::dropout_forward(dropped, f, p, ctx.site_key(layer_, rng_site::kFfnResidualDropout));
    f = dropped;
  }
  Tensor out = out_.rows(0, n);
  ops::add(out, h, f);
  return out;
}

void Block::backward(const ForwardContext& ctx, Tensor dx, const Tensor& dout, const Tensor& x) {
  const int64_t n = x.size(0);
  const float p = ctx.training ? dropout_ : 0.0f;
  Tensor h = hidden_.rows(0, n);
  Tensor dbranch = dbranch_.rows(0, n), dnorm = dnorm_.rows(0, n), dh = dh_.rows(0, n);
  // FFN branch: out = h + dropout(FFN(Norm_2(h))).
  Tensor df = dout;
  const float p_ffn = ctx.training ? ffn_dropout_ : 0.0f;
  if (p_ffn > 0.0f) {
    ops::dropout_backward(dbranch, dout, p_ffn,
                          ctx.site_key(layer_, rng_site::kFfnResidualDropout));
    df = dbranch;
  }
  Tensor a2 = norm2_.forward_output(n);
  if (moe_) {
    moe_->backward(ctx, dnorm, df, a2);
  } else {
    dense_->backward(dnorm, df, a2, dense_offsets_, a2.size(0));
  }
  norm2_.backward(dh, dnorm, h);
  ops::add_inplace(dh, dout);
  // Attention branch: h = x + dropout(Attention(Norm_1(x))).
  Tensor datt = dh;
  if (p > 0.0f) {
    ops::dropout_backward(dbranch, dh, p,
                          ctx.site_key(layer_, rng_site::kAttentionResidualDropout));
    datt = dbranch;
  }
  Tensor a1 = norm1_.forward_output(n);
  attention_.backward(ctx, dnorm, datt, a1);
  norm1_.backward(dx, dnorm, x);
  ops::add_inplace(dx, dh);
}

}  // namespace moe
