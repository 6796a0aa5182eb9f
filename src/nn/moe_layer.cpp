#include "nn/moe_layer.h"

#include <cmath>

#include "core/rng_streams.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/moe_permute.h"

namespace moe {

std::string expert_param_name(const std::string& prefix, int64_t expert, const std::string& proj) {
  return prefix + ".experts." + std::to_string(expert) + "." + proj;
}

MoELayer::MoELayer(ParamTable& table, const std::string& prefix, const ModelConfig& cfg,
                   int64_t layer)
    : layer_(layer),
      n_embed_(cfg.n_embed),
      n_experts_(cfg.n_experts),
      top_k_(cfg.top_k),
      noisy_(cfg.router == "noisy_topk"),
      capacity_factor_(cfg.capacity_factor),
      aux_coef_(cfg.aux_loss_coef),
      z_coef_(cfg.z_loss_coef),
      gate_(add_linear(table, prefix + ".gate", cfg.n_experts, cfg.n_embed, cfg.has_bias(),
                       linear_init(cfg, cfg.n_embed, cfg.n_experts, false))),
      noise_(noisy_
                 ? add_linear(table, prefix + ".noise", cfg.n_experts, cfg.n_embed, cfg.has_bias(),
                              linear_init(cfg, cfg.n_embed, cfg.n_experts, false))
                 : LinearParams{}),
      experts_(
          table, cfg, cfg.n_experts, cfg.expert_ffn_hidden(),
          [&](int64_t e, const std::string& proj) { return expert_param_name(prefix, e, proj); }) {
  // Shared experts are as fine-grained as the routed ones (DeepSeekMoE §3.2 isolates K_s of the
  // mN fine-grained experts as shared).
  for (int64_t s = 0; s < cfg.n_shared_experts; ++s) {
    shared_.push_back(std::make_unique<ExpertFFN>(
        table, cfg, 1, cfg.expert_ffn_hidden(), [&](int64_t, const std::string& proj) {
          return prefix + ".shared_experts." + std::to_string(s) + "." + proj;
        }));
  }
}

int64_t MoELayer::inactive_params_per_token() const {
  return (n_experts_ - top_k_) * experts_.params_per_group();
}

void MoELayer::allocate(Arena& arena, int64_t max_tokens, const MoEStatsSlots& stats) {
  stats_ = stats;
  const int64_t n = max_tokens, e = n_experts_, k = top_k_, c = n_embed_;
  logits_ = arena.alloc(Shape{n, e});
  noise_logits_ = arena.alloc(Shape{n, e});
  noise_eps_ = arena.alloc(Shape{n, e});
  topk_idx_ = arena.alloc(Shape{n, k}, DType::I32);
  gates_ = arena.alloc(Shape{n, k});
  offsets_ = arena.alloc(Shape{e + 1}, DType::I32);
  sorted_slots_ = arena.alloc(Shape{n * k}, DType::I32);
  slot_rows_ = arena.alloc(Shape{n * k}, DType::I32);
  xs_ = arena.alloc(Shape{n * k, c});
  out_ = arena.alloc(Shape{n, c});
  dense_offsets_ = arena.alloc(Shape{2}, DType::I32);
  dys_ = arena.alloc(Shape{n * k, c});
  dxs_ = arena.alloc(Shape{n * k, c});
  dgates_ = arena.alloc(Shape{n, k});
  dlogits_ = arena.alloc(Shape{n, e});
  dnoise_logits_ = arena.alloc(Shape{n, e});
  dx_tmp_ = arena.alloc(Shape{n, c});
  experts_.allocate(arena, n * k);
  for (auto& s : shared_)
    s->allocate(arena, n);
}

// With a capacity limit the number of rows the experts compute depends on the routing: the last
// expert offset, read from the device. This is the one host read of a forward (see
// docs/ARCHITECTURE.md, "Host reads"); dropless routing keeps all N*k rows and reads nothing.
int64_t MoELayer::kept_assignments() const {
  int32_t kept = 0;
  ops::copy(cpu_tensor(&kept, Shape{1}), offsets_.rows(n_experts_, n_experts_ + 1));
  return kept;
}

ops::RouterArgs MoELayer::router_args(const ForwardContext& ctx) const {
  ops::RouterArgs args;
  args.top_k = static_cast<int>(top_k_);
  args.temperature = ctx.router_temperature;
  return args;
}

Tensor MoELayer::forward(const ForwardContext& ctx, const Tensor& x) {
  const int64_t n = x.size(0), e = n_experts_, k = top_k_;
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
  ops::router_forward(topk_idx, gates, logits, noise_logits, noise_eps, router_args(ctx));
  ops::router_losses_forward(stats_.router, stats_.fraction, logits, topk_idx,
                             ctx.router_temperature);

  int64_t capacity = 0;
  if (capacity_factor_ > 0.0f) {
    // Switch Transformer: capacity = capacity_factor * tokens * k / experts, rounded up.
    capacity = static_cast<int64_t>(
        std::ceil(capacity_factor_ * static_cast<double>(n * k) / static_cast<double>(e)));
  }
  Tensor sorted_slots = sorted_slots_.rows(0, n * k), slot_rows = slot_rows_.rows(0, n * k);
  ops::moe_dispatch_plan(offsets_, sorted_slots, slot_rows, stats_.dropped, topk_idx, e, capacity);
  Tensor xs = xs_.rows(0, n * k);
  ops::moe_gather(xs, x, sorted_slots, offsets_, k);
  used_rows_ = capacity > 0 ? kept_assignments() : n * k;
  Tensor ys = experts_.forward(xs, offsets_, used_rows_);
  Tensor out = out_.rows(0, n);
  ops::moe_scatter(out, ys, gates, slot_rows);
  if (!shared_.empty()) {
    write_single_group_offsets(dense_offsets_, n);
    for (auto& s : shared_)
      ops::add_inplace(out, s->forward(x, dense_offsets_, n));
  }
  return out;
}

void MoELayer::backward(const ForwardContext& ctx, Tensor dx, const Tensor& dout, const Tensor& x) {
  const int64_t n = x.size(0), k = top_k_;
  Tensor topk_idx = topk_idx_.rows(0, n), gates = gates_.rows(0, n);
  Tensor sorted_slots = sorted_slots_.rows(0, n * k), slot_rows = slot_rows_.rows(0, n * k);
  Tensor xs = xs_.rows(0, n * k), dys = dys_.rows(0, n * k), dxs = dxs_.rows(0, n * k);
  Tensor dgates = dgates_.rows(0, n);
  // The experts' outputs are still in their buffer from forward (ExpertFFN::forward's return).
  Tensor ys = experts_.forward_output(n * k);
  ops::moe_scatter_backward(dys, dgates, dout, ys, gates, slot_rows, sorted_slots, offsets_);
  experts_.backward(dxs, dys, xs, offsets_, used_rows_);
  ops::moe_gather_backward(dx, dxs, slot_rows, k);

  Tensor logits = logits_.rows(0, n), dlogits = dlogits_.rows(0, n);
  Tensor noise_logits, noise_eps, dnoise_logits;
  if (noise_used_) {
    noise_logits = noise_logits_.rows(0, n);
    noise_eps = noise_eps_.rows(0, n);
    dnoise_logits = dnoise_logits_.rows(0, n);
  }
  ops::router_backward(dlogits, dnoise_logits, dgates, topk_idx, gates, noise_logits, noise_eps,
                       router_args(ctx));
  ops::router_losses_backward(dlogits, logits, stats_.fraction, ctx.router_temperature,
                              aux_coef_ * ctx.loss_scale, z_coef_ * ctx.loss_scale);
  Tensor tmp = dx_tmp_.rows(0, n);
  ops::linear_backward(tmp, gate_.weight->grad, bias_grad(gate_), dlogits, x, gate_.weight->value);
  ops::add_inplace(dx, tmp);
  if (noise_used_) {
    ops::linear_backward(tmp, noise_.weight->grad, bias_grad(noise_), dnoise_logits, x,
                         noise_.weight->value);
    ops::add_inplace(dx, tmp);
  }
  for (auto& s : shared_) {
    s->backward(tmp, dout, x, dense_offsets_, n);
    ops::add_inplace(dx, tmp);
  }
}

}  // namespace moe
