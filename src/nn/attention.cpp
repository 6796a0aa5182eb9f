#include "nn/attention.h"

#include <algorithm>

#include "core/check.h"
#include "core/rng_streams.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/rope.h"

namespace moe {

Attention::Attention(ParamTable& table, const std::string& prefix, const ModelConfig& cfg,
                     int64_t layer)
    : table_(&table),
      layer_(layer),
      n_embed_(cfg.n_embed),
      n_heads_(cfg.n_heads),
      n_kv_heads_(cfg.kv_heads()),
      head_dim_(cfg.head_dim()),
      block_size_(cfg.block_size),
      rope_(!cfg.is_gpt()),
      rope_theta_(cfg.rope_theta),
      dropout_(cfg.dropout),
      scale_(cfg.attention_scale) {
  int64_t c = n_embed_, hd = n_heads_ * head_dim_, kvd = n_kv_heads_ * head_dim_;
  // makeMoE's heads have no q/k/v biases; its output projection has one. Llama has none.
  wq_ = add_linear(table, prefix + ".q_proj", hd, c, false, linear_init(cfg, c, hd, false));
  wk_ = add_linear(table, prefix + ".k_proj", kvd, c, false, linear_init(cfg, c, kvd, false));
  wv_ = add_linear(table, prefix + ".v_proj", kvd, c, false, linear_init(cfg, c, kvd, false));
  wo_ = add_linear(table, prefix + (cfg.is_gpt() ? ".c_proj" : ".o_proj"), c, hd, cfg.has_bias(),
                   linear_init(cfg, hd, c, true));
}

void Attention::allocate(Arena& arena, Arena& scratch, int64_t batch, int64_t seq) {
  int64_t n = batch * seq;
  q_ = arena.alloc(Shape{batch, seq, n_heads_, head_dim_});
  k_ = arena.alloc(Shape{batch, seq, n_kv_heads_, head_dim_});
  v_ = arena.alloc(Shape{batch, seq, n_kv_heads_, head_dim_});
  lse_ = arena.alloc(Shape{batch, n_heads_, seq});
  att_ = arena.alloc(Shape{batch, seq, n_heads_, head_dim_});
  out_ = scratch.alloc(Shape{n, n_embed_});
  dq_ = scratch.alloc(q_.shape);
  dk_ = scratch.alloc(k_.shape);
  dv_ = scratch.alloc(v_.shape);
  datt_ = scratch.alloc(att_.shape);
  const int64_t widest = n * std::max(n_embed_, n_heads_ * head_dim_);
  casts_.allocate(scratch, table_->bf16_gemm_values(), widest, widest);
}

void Attention::allocate_kv_cache(Arena& arena) {
  k_cache_ = arena.alloc(Shape{1, block_size_, n_kv_heads_, head_dim_});
  v_cache_ = arena.alloc(Shape{1, block_size_, n_kv_heads_, head_dim_});
}

uint64_t Attention::dropout_key(const ForwardContext& ctx) const {
  return ctx.site_key(layer_, rng_site::kAttentionDropout);
}

Tensor Attention::forward(const ForwardContext& ctx, const Tensor& x) {
  const int64_t b = ctx.batch, t = ctx.seq, n = b * t;
  Tensor q = q_.prefix(Shape{b, t, n_heads_, head_dim_});
  Tensor k = k_.prefix(Shape{b, t, n_kv_heads_, head_dim_});
  Tensor v = v_.prefix(Shape{b, t, n_kv_heads_, head_dim_});
  gemm_linear_forward(casts_, q.view(Shape{n, n_heads_ * head_dim_}), x, wq_);
  gemm_linear_forward(casts_, k.view(Shape{n, n_kv_heads_ * head_dim_}), x, wk_);
  gemm_linear_forward(casts_, v.view(Shape{n, n_kv_heads_ * head_dim_}), x, wv_);
  if (rope_) {
    ops::rope_forward(q, q, ctx.pos_offset, rope_theta_);
    ops::rope_forward(k, k, ctx.pos_offset, rope_theta_);
  }
  Tensor keys = k, values = v;
  int64_t tk = t;
  if (ctx.use_kv_cache) {
    MOE_CHECK(!k_cache_.empty(), "attention: KV cache not allocated");
    MOE_CHECK(b == 1 && ctx.pos_offset + t <= block_size_, "attention: KV cache holds batch 1 and ",
              block_size_, " positions; asked for positions up to ", ctx.pos_offset + t);
    tk = ctx.pos_offset + t;
    // Positions [pos_offset, pos_offset + t) of the cache (block_size, H_kv, D) take k and v.
    const Shape by_position{block_size_, n_kv_heads_, head_dim_};
    ops::copy(k_cache_.view(by_position).rows(ctx.pos_offset, tk).view(k.shape), k);
    ops::copy(v_cache_.view(by_position).rows(ctx.pos_offset, tk).view(v.shape), v);
    keys = k_cache_.prefix(Shape{1, tk, n_kv_heads_, head_dim_});
    values = v_cache_.prefix(Shape{1, tk, n_kv_heads_, head_dim_});
  }
  Tensor lse = lse_.prefix(Shape{b, n_heads_, t});
  Tensor att = att_.prefix(Shape{b, t, n_heads_, head_dim_});
  AttentionArgs args;
  args.scale = scale_;
  args.dropout = ctx.training ? dropout_ : 0.0f;
  args.dropout_key = dropout_key(ctx);
  ops::attention_forward(att, lse, q, keys, values, args);
  Tensor out = out_.rows(0, n);
  gemm_linear_forward(casts_, out, att.view(Shape{n, n_heads_ * head_dim_}), wo_);
  return out;
}

void Attention::backward(const ForwardContext& ctx, Tensor dx, const Tensor& dout,
                         const Tensor& x) {
  const int64_t b = ctx.batch, t = ctx.seq, n = b * t;
  Tensor q = q_.prefix(Shape{b, t, n_heads_, head_dim_});
  Tensor k = k_.prefix(Shape{b, t, n_kv_heads_, head_dim_});
  Tensor v = v_.prefix(Shape{b, t, n_kv_heads_, head_dim_});
  Tensor lse = lse_.prefix(Shape{b, n_heads_, t});
  Tensor att = att_.prefix(Shape{b, t, n_heads_, head_dim_});
  Tensor datt = datt_.prefix(att.shape);
  gemm_linear_backward(casts_, datt.view(Shape{n, n_heads_ * head_dim_}), wo_, dout,
                       att.view(Shape{n, n_heads_ * head_dim_}));
  Tensor dq = dq_.prefix(q.shape), dk = dk_.prefix(k.shape), dv = dv_.prefix(v.shape);
  AttentionArgs args;
  args.scale = scale_;
  args.dropout = ctx.training ? dropout_ : 0.0f;
  args.dropout_key = dropout_key(ctx);
  ops::attention_backward(dq, dk, dv, datt, q, k, v, att, lse, args);
  if (rope_) {
    ops::rope_backward(dq, dq, ctx.pos_offset, rope_theta_);
    ops::rope_backward(dk, dk, ctx.pos_offset, rope_theta_);
  }
  // q, k and v project the same x: the second and third input gradients add onto the first inside
  // their GEMMs (beta = 1).
  gemm_linear_backward(casts_, dx, wq_, dq.view(Shape{n, n_heads_ * head_dim_}), x);
  gemm_linear_backward(casts_, dx, wk_, dk.view(Shape{n, n_kv_heads_ * head_dim_}), x,
                       InputGrad::Accumulate);
  gemm_linear_backward(casts_, dx, wv_, dv.view(Shape{n, n_kv_heads_ * head_dim_}), x,
                       InputGrad::Accumulate);
}

}  // namespace moe
