#include "nn/moe_layer.h"

#include <cmath>

#include "core/check.h"
#include "core/rng_streams.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/expert_choice.h"
#include "ops/matmul.h"
#include "ops/moe_permute.h"
#include "ops/router_balance.h"
#include "ops/softmax_xent.h"

namespace moe {

std::string expert_param_name(const std::string& prefix, int64_t expert, const std::string& proj) {
  return prefix + ".experts." + std::to_string(expert) + "." + proj;
}

MoELayer::MoELayer(ParamTable& table, const std::string& prefix, const ModelConfig& cfg,
                   int64_t layer, ExpertExchange* exchange)
    : layer_(layer),
      n_embed_(cfg.n_embed),
      n_experts_(cfg.n_experts),
      top_k_(cfg.top_k),
      expert_choice_(cfg.is_expert_choice()),
      slots_per_token_(expert_choice_ ? cfg.n_experts : cfg.top_k),
      noisy_(cfg.router == "noisy_topk"),
      step_aux_scope_(cfg.aux_loss_scope == "global_batch"),
      capacity_factor_(cfg.capacity_factor),
      aux_coef_(cfg.aux_loss_coef),
      z_coef_(cfg.z_loss_coef),
      seq_aux_coef_(cfg.seq_aux_loss_coef),
      score_(cfg.router_score == "sigmoid" ? RouterScore::Sigmoid : RouterScore::Softmax),
      routed_scaling_(cfg.routed_scaling_factor),
      expert_dropout_(cfg.expert_dropout ? cfg.dropout : 0.0f),
      gate_(add_linear(table, prefix + ".gate", cfg.n_experts, cfg.n_embed, cfg.has_bias(),
                       linear_init(cfg, cfg.n_embed, cfg.n_experts, false))),
      noise_(noisy_
                 ? add_linear(table, prefix + ".noise", cfg.n_experts, cfg.n_embed, cfg.has_bias(),
                              linear_init(cfg, cfg.n_embed, cfg.n_experts, false))
                 : LinearParams{}),
      exchange_(exchange),
      experts_(
          table, cfg, exchange ? exchange->local_experts() : cfg.n_experts, cfg.expert_ffn_hidden(),
          [&](int64_t e, const std::string& proj) { return expert_param_name(prefix, e, proj); },
          exchange ? exchange->first_expert() : 0, cfg.n_experts) {
  MOE_CHECK(!exchange || exchange->local_experts() * exchange->group_size() == cfg.n_experts,
            "MoE layer: ", exchange ? exchange->group_size() : 0, " expert-parallel processes ",
            "cannot share ", cfg.n_experts, " experts evenly");
  // Shared experts are as fine-grained as the routed ones (DeepSeekMoE §3.2 isolates K_s of the
  // mN fine-grained experts as shared).
  for (int64_t s = 0; s < cfg.n_shared_experts; ++s) {
    shared_.push_back(std::make_unique<ExpertFFN>(
        table, cfg, 1, cfg.expert_ffn_hidden(), [&](int64_t, const std::string& proj) {
          return prefix + ".shared_experts." + std::to_string(s) + "." + proj;
        }));
  }
  if (cfg.router_bias) {
    // Named as DeepSeek-V3's Hugging Face checkpoints name it.
    router_bias_ = table.add(prefix + ".gate.e_score_correction_bias", Shape{cfg.n_experts},
                             ParamInit::zeros(), false);
    router_bias_->trainable = false;
  }
}

int64_t MoELayer::inactive_params_per_token() const {
  return (n_experts_ - top_k_) * experts_.params_per_group();
}

void MoELayer::allocate(Arena& arena, Arena& scratch, int64_t max_tokens,
                        const MoEStatsSlots& stats) {
  stats_ = stats;
  const int64_t n = max_tokens, e = n_experts_, k = slots_per_token_, c = n_embed_;
  const int64_t rows = expert_rows(n);
  logits_ = arena.alloc(Shape{n, e});
  noise_logits_ = arena.alloc(Shape{n, e});
  noise_eps_ = arena.alloc(Shape{n, e});
  topk_idx_ = arena.alloc(Shape{n, k}, DType::I32);
  gates_ = arena.alloc(Shape{n, k});
  offsets_ = arena.alloc(Shape{e + 1}, DType::I32);
  sorted_slots_ = arena.alloc(Shape{rows}, DType::I32);
  slot_rows_ = arena.alloc(Shape{n * k}, DType::I32);
  xs_ = arena.alloc(Shape{rows, c});
  dense_offsets_ = arena.alloc(Shape{2}, DType::I32);
  out_ = scratch.alloc(Shape{n, c});
  dys_ = scratch.alloc(Shape{rows, c});
  dxs_ = scratch.alloc(Shape{rows, c});
  dgates_ = scratch.alloc(Shape{n, k});
  dlogits_ = scratch.alloc(Shape{n, e});
  dnoise_logits_ = scratch.alloc(Shape{n, e});
  if (seq_aux_coef_ > 0.0f || step_aux_scope_) {
    probs_ = arena.alloc(Shape{n, e});
    dprobs_ = scratch.alloc(Shape{n, e});
  }
  if (seq_aux_coef_ > 0.0f) seq_fraction_ = arena.alloc(Shape{n, e});
  if (exchange_) {
    // A process may receive every row of every process in its group.
    const int64_t received = exchange_->group_size() * rows;
    local_offsets_ = arena.alloc(Shape{exchange_->local_experts() + 1}, DType::I32);
    received_xs_ = arena.alloc(Shape{received, c});
    ys_ = arena.alloc(Shape{rows, c});
    received_dys_ = scratch.alloc(Shape{received, c});
    received_dxs_ = scratch.alloc(Shape{received, c});
    experts_.allocate(arena, scratch, received);
  } else {
    experts_.allocate(arena, scratch, rows);
  }
  for (auto& s : shared_)
    s->allocate(arena, scratch, n);
  if (expert_dropout_ > 0.0f && !shared_.empty()) dshared_ = scratch.alloc(Shape{n, c});
}

uint64_t MoELayer::shared_dropout_key(const ForwardContext& ctx, size_t shared) const {
  return rng_key(ctx.site_key(layer_, rng_site::kSharedExpertDropout), shared);
}

// With a capacity limit the number of rows the experts compute depends on the routing: the last
// expert offset, read from the device. This is the one host read of a forward (see
// docs/ARCHITECTURE.md, "Host reads"); dropless routing keeps all N*k rows and reads nothing.
int64_t MoELayer::expert_rows(int64_t tokens) const {
  return expert_choice_ ? n_experts_ * ops::expert_choice_capacity(tokens, n_experts_, top_k_)
                        : tokens * slots_per_token_;
}

int64_t MoELayer::kept_assignments() const {
  int32_t kept = 0;
  ops::copy(cpu_tensor(&kept, Shape{1}), offsets_.rows(n_experts_, n_experts_ + 1));
  return kept;
}

ops::RouterArgs MoELayer::router_args(const ForwardContext& ctx) const {
  ops::RouterArgs args;
  args.top_k = static_cast<int>(slots_per_token_);
  args.temperature = ctx.router_temperature;
  return args;
}

ops::RouterLossArgs MoELayer::loss_args(const ForwardContext& ctx) const {
  ops::RouterLossArgs args;
  args.score = score_;
  args.temperature = ctx.router_temperature;
  return args;
}

ops::ScoredRouterArgs MoELayer::scored_args(const ForwardContext& ctx) const {
  ops::ScoredRouterArgs args;
  args.top_k = static_cast<int>(top_k_);
  args.temperature = ctx.router_temperature;
  args.score = score_;
  args.scaling = routed_scaling_;
  return args;
}

void MoELayer::update_router_bias(float gamma) {
  if (router_bias_) ops::router_bias_update(router_bias_->value, stats_.load, gamma);
}

// The balance losses computed from the normalised scores: the sequence-wise loss (its entry of
// the statistics stays 0, as the arena handed it out, when unused) and, with the step's
// fractions, the Switch loss in place of the one router_losses_forward counted on this call.
void MoELayer::balance_losses_forward(const ForwardContext& ctx, const Tensor& logits,
                                      const Tensor& topk_idx) {
  MOE_CHECK(!ctx.step_aux_fraction || step_aux_scope_,
            "MoE layer: the step's expert fractions need model.aux_loss_scope = global_batch");
  if (seq_aux_coef_ == 0.0f && !ctx.step_aux_fraction) return;
  const int64_t n = logits.size(0);
  Tensor probs = probs_.rows(0, n);
  if (score_ == RouterScore::Sigmoid)
    ops::normalized_sigmoid_forward(probs, logits);
  else
    ops::softmax_forward(probs, logits, ctx.router_temperature);
  if (seq_aux_coef_ > 0.0f) {
    Tensor seq_fraction = seq_fraction_.rows(0, ctx.batch);
    ops::segment_fractions(seq_fraction, topk_idx);
    ops::balance_loss_forward(stats_.router.rows(ops::kSeqAuxLoss, ops::kSeqAuxLoss + 1), probs,
                              seq_fraction);
  }
  if (ctx.step_aux_fraction)
    ops::balance_loss_forward(stats_.router.rows(ops::kAuxLoss, ops::kAuxLoss + 1), probs,
                              stats_.step_fraction);
}

// d/d(logits) of the balance losses above, with their coefficients, added to dlogits.
void MoELayer::balance_losses_backward(const ForwardContext& ctx, Tensor dlogits) {
  if (seq_aux_coef_ == 0.0f && !ctx.step_aux_fraction) return;
  const int64_t n = dlogits.size(0);
  Tensor logits = logits_.rows(0, n), probs = probs_.rows(0, n), dprobs = dprobs_.rows(0, n);
  // dlogits += d/d(logits) of sum(dprobs * probs), through the normalisation of the scores.
  auto scores_backward = [&] {
    if (score_ == RouterScore::Sigmoid)
      ops::normalized_sigmoid_backward(dlogits, dprobs, probs, logits);
    else
      ops::softmax_backward(dlogits, dprobs, probs, ctx.router_temperature);
  };
  if (seq_aux_coef_ > 0.0f) {
    ops::balance_loss_backward(dprobs, seq_fraction_.rows(0, ctx.batch),
                               seq_aux_coef_ * ctx.loss_scale);
    scores_backward();
  }
  if (ctx.step_aux_fraction) {
    ops::balance_loss_backward(dprobs, stats_.step_fraction, aux_coef_ * ctx.loss_scale);
    scores_backward();
  }
}

void MoELayer::route(const ForwardContext& ctx, const Tensor& x) {
  const int64_t n = x.size(0);
  Tensor logits = logits_.rows(0, n);
  Tensor topk_idx = topk_idx_.rows(0, n), gates = gates_.rows(0, n);
  ops::linear_forward(logits, x, gate_.weight->value, bias_value(gate_));
  // Noise while training (Shazeer et al. 2017 use it to explore and balance load), and in
  // evaluation only when asked (the makeMoE tutorial's code draws it there too).
  noise_used_ = noisy_ && (ctx.training || ctx.eval_router_noise);
  Tensor noise_logits, noise_eps;
  if (noise_used_) {
    noise_logits = noise_logits_.rows(0, n);
    noise_eps = noise_eps_.rows(0, n);
    ops::linear_forward(noise_logits, x, noise_.weight->value, bias_value(noise_));
    ops::fill_normal(noise_eps, 0.0f, 1.0f, ctx.site_key(layer_, rng_site::kRouterNoise));
  }
  if (scored()) {
    ops::scored_router_forward(topk_idx, gates, logits,
                               router_bias_ ? router_bias_->value : Tensor{}, scored_args(ctx));
  } else {
    ops::router_forward(topk_idx, gates, logits, noise_logits, noise_eps, router_args(ctx));
  }
  Tensor router_losses = stats_.router.rows(0, ops::kRouterLossStats);
  ops::router_losses_forward(router_losses, stats_.fraction, logits, topk_idx, loss_args(ctx));
  balance_losses_forward(ctx, logits, topk_idx);
  // The step's load, on the device, for the bias update after the optimizer step.
  if (router_bias_ && ctx.training) ops::router_load_accumulate(stats_.load, topk_idx);
}

Tensor MoELayer::forward(const ForwardContext& ctx, const Tensor& x) {
  const int64_t n = x.size(0), e = n_experts_, k = slots_per_token_, rows = expert_rows(n);
  route(ctx, x);
  Tensor topk_idx = topk_idx_.rows(0, n), gates = gates_.rows(0, n);
  Tensor sorted_slots = sorted_slots_.rows(0, rows), slot_rows = slot_rows_.rows(0, n * k);
  if (expert_choice_) {
    // Every token's E slots are candidates; each expert keeps its best C, so the experts compute
    // exactly E * C rows (the buffers' rows), known on the host without a read.
    const int64_t capacity = ops::expert_choice_capacity(n, e, top_k_);
    ops::expert_choice_plan(offsets_, sorted_slots, slot_rows, stats_.dropped, topk_idx, gates, e,
                            capacity);
    used_rows_ = e * capacity;
  } else {
    int64_t capacity = 0;
    if (capacity_factor_ > 0.0f) {
      // Switch Transformer: capacity = capacity_factor * tokens * k / experts, rounded up.
      capacity = static_cast<int64_t>(
          std::ceil(capacity_factor_ * static_cast<double>(n * k) / static_cast<double>(e)));
    }
    ops::moe_dispatch_plan(offsets_, sorted_slots, slot_rows, stats_.dropped, topk_idx, e,
                           capacity);
    used_rows_ = capacity > 0 ? kept_assignments() : n * k;
  }
  Tensor xs = xs_.rows(0, rows);
  ops::moe_gather(xs, x, sorted_slots, offsets_, k);
  Tensor ys;
  if (exchange_) {
    // Rows travel to the process holding their expert and come back in the same places.
    plan_ = exchange_->plan(local_offsets_, offsets_);
    exchange_->to_experts(received_xs_.rows(0, plan_.received), xs.rows(0, used_rows_), plan_);
    const Tensor local_ys = experts_.forward(received_xs_, local_offsets_, plan_.received);
    ys = ys_.rows(0, rows);
    exchange_->from_experts(ys.rows(0, used_rows_), local_ys.rows(0, plan_.received), plan_);
  } else {
    ys = experts_.forward(xs, offsets_, used_rows_);
  }
  // Expert dropout: each (token, expert) row is dropped before its gate weighs it, in place, so
  // backward's gate gradient reads the dropped rows.
  const float p = expert_dropout(ctx);
  if (p > 0.0f) {
    Tensor used = ys.rows(0, used_rows_);
    ops::dropout_forward(used, used, p, ctx.site_key(layer_, rng_site::kExpertDropout));
  }
  Tensor out = out_.rows(0, n);
  ops::moe_scatter(out, ys, gates, slot_rows);
  if (!shared_.empty()) {
    write_single_group_offsets(dense_offsets_, n);
    for (size_t s = 0; s < shared_.size(); ++s) {
      Tensor y = shared_[s]->forward(x, dense_offsets_, n);
      if (p > 0.0f) ops::dropout_forward(y, y, p, shared_dropout_key(ctx, s));
      ops::add_inplace(out, y);
    }
  }
  return out;
}

void MoELayer::backward(const ForwardContext& ctx, Tensor dx, const Tensor& dout, const Tensor& x) {
  const int64_t n = x.size(0), k = slots_per_token_, rows = expert_rows(n);
  Tensor topk_idx = topk_idx_.rows(0, n), gates = gates_.rows(0, n);
  Tensor sorted_slots = sorted_slots_.rows(0, rows), slot_rows = slot_rows_.rows(0, n * k);
  Tensor xs = xs_.rows(0, rows), dys = dys_.rows(0, rows), dxs = dxs_.rows(0, rows);
  Tensor dgates = dgates_.rows(0, n);
  // The experts' outputs are still in their buffer from forward (ExpertFFN::forward's return).
  Tensor ys = exchange_ ? ys_.rows(0, rows) : experts_.forward_output(rows);
  ops::moe_scatter_backward(dys, dgates, dout, ys, gates, slot_rows, sorted_slots, offsets_);
  const float p = expert_dropout(ctx);
  if (p > 0.0f) {
    Tensor used = dys.rows(0, used_rows_);
    ops::dropout_backward(used, used, p, ctx.site_key(layer_, rng_site::kExpertDropout));
  }
  if (exchange_) {
    // The output gradients travel as the rows did; the input gradients come back.
    exchange_->to_experts(received_dys_.rows(0, plan_.received), dys.rows(0, used_rows_), plan_);
    experts_.backward(received_dxs_, received_dys_, received_xs_, local_offsets_, plan_.received);
    exchange_->from_experts(dxs.rows(0, used_rows_), received_dxs_.rows(0, plan_.received), plan_);
  } else {
    experts_.backward(dxs, dys, xs, offsets_, used_rows_);
  }
  ops::moe_gather_backward(dx, dxs, slot_rows, k);

  Tensor logits = logits_.rows(0, n), dlogits = dlogits_.rows(0, n);
  Tensor noise_logits, noise_eps, dnoise_logits;
  if (noise_used_) {
    noise_logits = noise_logits_.rows(0, n);
    noise_eps = noise_eps_.rows(0, n);
    dnoise_logits = dnoise_logits_.rows(0, n);
  }
  if (scored()) {
    ops::scored_router_backward(dlogits, dgates, topk_idx, gates, logits, scored_args(ctx));
  } else {
    ops::router_backward(dlogits, dnoise_logits, dgates, topk_idx, gates, noise_logits, noise_eps,
                         router_args(ctx));
  }
  // With the step's fractions the Switch loss's gradient comes from balance_losses_backward.
  const float aux_coef = ctx.step_aux_fraction ? 0.0f : aux_coef_ * ctx.loss_scale;
  ops::router_losses_backward(dlogits, logits, stats_.fraction, loss_args(ctx), aux_coef,
                              z_coef_ * ctx.loss_scale);
  balance_losses_backward(ctx, dlogits);
  // The router, its noise and the shared experts read the same x as the routed experts: their
  // input gradients add onto dx inside their GEMMs (beta = 1).
  ops::linear_backward(dx, gate_.weight->grad, bias_grad(gate_), dlogits, x, gate_.weight->value,
                       InputGrad::Accumulate);
  if (noise_used_) {
    ops::linear_backward(dx, noise_.weight->grad, bias_grad(noise_), dnoise_logits, x,
                         noise_.weight->value, InputGrad::Accumulate);
  }
  for (size_t s = 0; s < shared_.size(); ++s) {
    Tensor dy = dout;
    if (p > 0.0f) {
      dy = dshared_.rows(0, n);
      ops::dropout_backward(dy, dout, p, shared_dropout_key(ctx, s));
    }
    shared_[s]->backward(dx, dy, x, dense_offsets_, n, InputGrad::Accumulate);
  }
}

}  // namespace moe
