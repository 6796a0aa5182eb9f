#include "model/model.h"

#include "core/check.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/moe_router.h"
#include "ops/softmax_xent.h"

namespace moe {

Model::Model(const ModelConfig& cfg, ArenaMode mode, Device device, ExpertExchange* exchange)
    : cfg_(cfg),
      params_(device, mode),
      arena_(ops::device_memory(device), mode),
      scratch_arena_(ops::device_memory(device), mode) {
  cfg_.validate();
  const int64_t c = cfg_.n_embed, v = cfg_.vocab_size;
  const bool gpt = cfg_.is_gpt();
  wte_ = params_.add(gpt ? "transformer.wte.weight" : "model.embed_tokens.weight", Shape{v, c},
                     embedding_init(cfg_), true);
  if (gpt) {
    wpe_ = params_.add("transformer.wpe.weight", Shape{cfg_.block_size, c}, embedding_init(cfg_),
                       true);
  }
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    block_first_.push_back(params_.numel());
    blocks_.push_back(std::make_unique<Block>(params_, cfg_, l, exchange));
  }
  head_first_ = params_.numel();
  norm_f_ = std::make_unique<Norm>(params_, gpt ? "transformer.ln_f" : "model.norm", cfg_);
  lm_head_ = add_linear(params_, "lm_head", v, c, cfg_.has_bias(), linear_init(cfg_, c, v, false));
  params_.allocate();
}

void Model::use_bf16_gemms() {
  MOE_CHECK(arena_.bytes_allocated() == 0, "model: mixed precision is chosen before allocate()");
  params_.use_bf16_gemm_values();
}

void Model::refresh_bf16_weights(bool stochastic, uint64_t key) {
  params_.refresh_bf16_values(stochastic, key);
  bf16_weights_ready_ = true;
}

void Model::allocate(int64_t batch, int64_t seq) {
  MOE_CHECK(seq >= 1 && seq <= cfg_.block_size, "sequence length ", seq,
            " must be in [1, block_size = ", cfg_.block_size, "]");
  MOE_CHECK(batch >= 1, "batch size must be >= 1");
  const int64_t n = batch * seq, c = cfg_.n_embed;
  tokens_ = arena_.alloc(Shape{n}, DType::I32);
  targets_ = arena_.alloc(Shape{n}, DType::I32);
  embed_ = arena_.alloc(Shape{n, c});
  losses_ = arena_.alloc(Shape{n});
  logits_ = arena_.alloc(Shape{n, cfg_.vocab_size});
  dresid_a_ = arena_.alloc(Shape{n, c});
  dresid_b_ = arena_.alloc(Shape{n, c});
  dfinal_ = arena_.alloc(Shape{n, c});
  head_casts_.allocate(arena_, bf16_gemms(), n * c, n * cfg_.vocab_size);
  const int64_t moe_layers = static_cast<int64_t>(cfg_.moe_layer_indices().size());
  loss_stats_ = arena_.alloc(Shape{1 + ops::kRouterStats * moe_layers}, DType::F64);
  if (moe_layers > 0) {
    fractions_ = arena_.alloc(Shape{moe_layers, cfg_.n_experts});
    if (cfg_.aux_loss_scope == "global_batch")
      step_fractions_ = arena_.alloc(Shape{moe_layers, cfg_.n_experts});
    dropped_ = arena_.alloc(Shape{moe_layers}, DType::I32);
    // Zero-filled by the arena: no load yet.
    if (cfg_.router_bias)
      router_loads_ = arena_.alloc(Shape{moe_layers, cfg_.n_experts}, DType::F64);
  }
  int64_t slot = 0;
  for (auto& b : blocks_) {
    MoEStatsSlots stats;
    if (b->moe()) {
      const int64_t first = 1 + ops::kRouterStats * slot;
      stats = {
          loss_stats_.rows(first, first + ops::kRouterStats),
          fractions_.rows(slot, slot + 1).view(Shape{cfg_.n_experts}),
          dropped_.rows(slot, slot + 1),
          cfg_.aux_loss_scope == "global_batch" ? step_fractions_.rows(slot, slot + 1) : Tensor{},
          cfg_.router_bias ? router_loads_.rows(slot, slot + 1).view(Shape{cfg_.n_experts})
                           : Tensor{}};
      ++slot;
    }
    scratch_arena_.rewind();
    b->allocate(arena_, scratch_arena_, batch, seq, stats);
  }
  norm_f_->allocate(arena_, n);
}

void Model::allocate_kv_cache() {
  for (auto& b : blocks_)
    b->allocate_kv_cache(arena_);
}

Tensor Model::embed(const ForwardContext& ctx, const Tensor& tokens) {
  const int64_t b = ctx.batch, t = ctx.seq, n = b * t;
  MOE_CHECK(tokens.shape == (Shape{b, t}), "model: tokens have shape ", tokens.shape.str(),
            ", expected ", Shape{b, t}.str());
  MOE_CHECK(ctx.pos_offset + t <= cfg_.block_size, "model: positions up to ", ctx.pos_offset + t,
            " exceed block_size ", cfg_.block_size);
  MOE_CHECK(!bf16_gemms() || bf16_weights_ready_,
            "model: the bf16 copies of the weights were never made (refresh_bf16_weights)");
  ops::copy(tokens_.rows(0, n).view(tokens.shape), tokens);
  Tensor x = embed_.rows(0, n);
  ops::embedding_forward(x.view(Shape{b, t, cfg_.n_embed}), tokens_.rows(0, n).view(tokens.shape),
                         wte_->value, wpe_ ? wpe_->value : Tensor{}, ctx.pos_offset);
  return x;
}

void Model::forward(const ForwardContext& ctx, const Tensor& tokens, const Tensor& targets) {
  const int64_t n = ctx.tokens();
  Tensor x = embed(ctx, tokens);
  last_tokens_ = n;
  block_inputs_.clear();
  for (auto& block : blocks_) {
    block_inputs_.push_back(x);
    x = block->forward(ctx, x);
  }
  block_inputs_.push_back(x);  // input of the final norm
  Tensor xf = norm_f_->forward(x);
  Tensor logits = logits_.rows(0, n);
  gemm_linear_forward(head_casts_, logits, xf, lm_head_);

  if (targets.empty()) return;
  MOE_CHECK(targets.shape == tokens.shape, "model: targets have shape ", targets.shape.str(),
            ", expected ", tokens.shape.str());
  ops::copy(targets_.rows(0, n).view(targets.shape), targets);
  ops::softmax_xent_forward(losses_.rows(0, n), loss_stats_.rows(0, 1), logits,
                            targets_.rows(0, n));
}

void Model::route(const ForwardContext& ctx, const Tensor& tokens) {
  const std::vector<int64_t> moe = cfg_.moe_layer_indices();
  MOE_CHECK(!moe.empty(), "model: routing needs MoE layers");
  ForwardContext routing = ctx;
  routing.step_aux_fraction = false;  // the step's fractions are what this pass counts
  Tensor x = embed(routing, tokens);
  for (int64_t l = 0; l < moe.back(); ++l)
    x = blocks_[l]->forward(routing, x);
  blocks_[moe.back()]->route(routing, x);
}

void Model::set_step_fractions(std::span<const double> micro_fractions) {
  MOE_CHECK(!step_fractions_.empty(), "model: the step's expert fractions need MoE layers and ",
            "model.aux_loss_scope = global_batch");
  const int64_t count = step_fractions_.numel();
  const int64_t micro_batches = std::ssize(micro_fractions) / count;
  MOE_CHECK(micro_batches >= 1 && micro_batches * count == std::ssize(micro_fractions),
            "model: ", micro_fractions.size(), " fractions are not whole micro-batches of ", count);
  // Micro-batches have equal token counts, so the step's fraction is the mean of theirs: summed
  // in F32 in micro-batch order, then scaled, the arithmetic of ops::add_inplace and
  // ops::scale_inplace, so where the fractions came from (this process or another) changes no bit.
  std::vector<float> step(static_cast<size_t>(count), 0.0f);
  for (int64_t m = 0; m < micro_batches; ++m)
    for (int64_t i = 0; i < count; ++i)
      step[i] += static_cast<float>(micro_fractions[m * count + i]);
  const float scale = 1.0f / static_cast<float>(micro_batches);
  for (float& f : step)
    f *= scale;
  ops::copy(step_fractions_, cpu_tensor(step.data(), step_fractions_.shape));
}

LossInfo Model::loss_info(const double* loss_stats) const {
  LossInfo info;
  info.ce = loss_stats[0];
  const size_t layers = cfg_.moe_layer_indices().size();
  for (size_t l = 0; l < layers; ++l) {
    info.aux += loss_stats[1 + ops::kRouterStats * l + ops::kAuxLoss];
    info.z += loss_stats[1 + ops::kRouterStats * l + ops::kZLoss];
    info.seq_aux += loss_stats[1 + ops::kRouterStats * l + ops::kSeqAuxLoss];
  }
  info.objective = info.ce + cfg_.aux_loss_coef * info.aux + cfg_.z_loss_coef * info.z +
                   cfg_.seq_aux_loss_coef * info.seq_aux;
  return info;
}

ForwardStats Model::read_stats() const {
  const std::vector<int64_t> layers = cfg_.moe_layer_indices();
  const int64_t count = static_cast<int64_t>(layers.size()), e = cfg_.n_experts;
  std::vector<double> losses(static_cast<size_t>(loss_stats_.numel()));
  ops::copy(cpu_tensor(losses.data(), loss_stats_.shape), loss_stats_);
  std::vector<float> fractions(static_cast<size_t>(count * e));
  std::vector<int32_t> dropped(static_cast<size_t>(count));
  if (count > 0) {
    ops::copy(cpu_tensor(fractions.data(), fractions_.shape), fractions_);
    ops::copy(cpu_tensor(dropped.data(), dropped_.shape), dropped_);
  }
  ForwardStats out;
  out.loss = loss_info(losses.data());
  for (int64_t l = 0; l < count; ++l) {
    MoELayerStats s;
    s.layer = layers[l];
    const double* router = losses.data() + 1 + ops::kRouterStats * l;
    s.aux_loss = router[ops::kAuxLoss];
    s.z_loss = router[ops::kZLoss];
    s.seq_aux_loss = router[ops::kSeqAuxLoss];
    s.entropy = router[ops::kEntropy];
    s.expert_fraction.assign(fractions.begin() + l * e, fractions.begin() + (l + 1) * e);
    s.dropped = dropped[l];
    s.assignments = cfg_.is_expert_choice() ? last_tokens_ : last_tokens_ * cfg_.top_k;
    out.moe.push_back(std::move(s));
  }
  return out;
}

std::vector<std::vector<int32_t>> Model::read_expert_ids() const {
  std::vector<std::vector<int32_t>> out;
  for (const MoELayer* layer : moe_layers()) {
    const Tensor ids = layer->expert_ids(last_tokens_);
    std::vector<int32_t>& host = out.emplace_back(static_cast<size_t>(ids.numel()));
    ops::copy(cpu_tensor(host.data(), ids.shape), ids);
  }
  return out;
}

void Model::backward(const ForwardContext& ctx, const GradientsDone& done) {
  const int64_t n = ctx.tokens();
  MOE_CHECK(n == last_tokens_, "model: backward does not match the last forward");
  Tensor logits = logits_.rows(0, n);
  // Mean over tokens: each row's loss has weight loss_scale / N. dlogits overwrite the logits.
  ops::softmax_xent_backward(logits, logits, targets_.rows(0, n),
                             ctx.loss_scale / static_cast<float>(n));
  Tensor dxf = dfinal_.rows(0, n);
  gemm_linear_backward(head_casts_, dxf, lm_head_, logits, norm_f_->forward_output(n));
  Tensor dcur = dresid_a_.rows(0, n), dnext = dresid_b_.rows(0, n);
  norm_f_->backward(dcur, dxf, block_inputs_.back());
  if (done) done(head_first_);
  for (int64_t l = cfg_.n_layers - 1; l >= 0; --l) {
    blocks_[l]->backward(ctx, dnext, dcur, block_inputs_[l]);
    std::swap(dcur, dnext);
    if (done) done(block_first_[l]);
  }
  ops::embedding_backward(wte_->grad, wpe_ ? wpe_->grad : Tensor{},
                          dcur.view(Shape{ctx.batch, ctx.seq, cfg_.n_embed}),
                          tokens_.rows(0, n).view(Shape{ctx.batch, ctx.seq}));
  if (done) done(0);
}

int64_t Model::active_param_count() const {
  int64_t active = param_count();
  for (const auto& b : blocks_)
    if (b->moe()) active -= b->moe()->inactive_params_per_token();
  return active;
}

double Model::flops_per_token() const {
  int64_t embedding = wte_->shape.numel() + (wpe_ ? wpe_->shape.numel() : 0);
  const double dense = 6.0 * static_cast<double>(active_param_count() - embedding);
  const double attention = 6.0 * static_cast<double>(cfg_.n_layers * cfg_.n_embed) *
                           static_cast<double>(cfg_.block_size + 1);
  return dense + attention;
}

void Model::update_router_biases(float gamma) {
  for (auto& b : blocks_)
    if (b->moe()) b->moe()->update_router_bias(gamma);
}

std::vector<const MoELayer*> Model::moe_layers() const {
  std::vector<const MoELayer*> out;
  for (const auto& b : blocks_)
    if (b->moe()) out.push_back(b->moe());
  return out;
}

}  // namespace moe
