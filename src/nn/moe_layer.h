// Mixture-of-Experts FFN (docs/MODEL.md, "MoE layer"): router -> top-k gates -> counting sort of
// assignments by expert -> gather -> one GEMM per expert group -> gate-weighted scatter back,
// plus optional always-active shared experts (Dai et al. 2024, DeepSeekMoE).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/arena.h"
#include "nn/context.h"
#include "nn/expert_exchange.h"
#include "nn/expert_ffn.h"
#include "nn/init.h"
#include "nn/params.h"
#include "ops/moe_router.h"
#include "ops/router_scores.h"

namespace moe {

// Where an MoE layer's forward writes what it measures: views of the model's statistics buffers
// on the model's device (Model::read_stats brings them to the host).
struct MoEStatsSlots {
  Tensor router;    // (ops::kRouterStats) F64: the ops::RouterStat entries
  Tensor fraction;  // (E) F32: share of the assignments per expert (also used by backward)
  Tensor dropped;   // (1) I32: assignments dropped by the capacity limit (expert choice: tokens
                    // no expert took)
  // (1, E) F32: share of the optimizer step's assignments per expert, for
  // ForwardContext::step_aux_fraction; empty unless model.aux_loss_scope = global_batch.
  Tensor step_fraction;
  // (E) F64: assignments per expert since the last bias update (model.router_bias), whole
  // numbers; empty without selection biases.
  Tensor load;
};

// The checkpoint name of projection `proj` ("w1", "w2", "w3") of expert `expert` of the MoE layer
// named `prefix` (".weight" / ".bias" are appended).
std::string expert_param_name(const std::string& prefix, int64_t expert, const std::string& proj);

class MoELayer {
 public:
  // With an `exchange` (expert parallel) the layer holds only the exchange's slice of the experts
  // and sends rows to the processes holding the others; nullptr: every expert is here.
  MoELayer(ParamTable& table, const std::string& prefix, const ModelConfig& cfg, int64_t layer,
           ExpertExchange* exchange = nullptr);
  // Saved activations from `arena`, buffers of one call from `scratch` (see Block::allocate).
  void allocate(Arena& arena, Arena& scratch, int64_t max_tokens, const MoEStatsSlots& stats);
  // Returns out (N, C); x (N, C) is the normalised input.
  Tensor forward(const ForwardContext& ctx, const Tensor& x);
  // The first half of forward: the router's choices and gates, its statistics (losses, expert
  // fractions) and the load count; x (N, C) is the normalised input.
  void route(const ForwardContext& ctx, const Tensor& x);
  // dx (N, C) assigned. Adds the aux and z losses' gradients with their coefficients.
  void backward(const ForwardContext& ctx, Tensor dx, const Tensor& dout, const Tensor& x);
  // The standard-normal router noise drawn by the last forward (N, E); empty when it drew none.
  Tensor noise_eps(int64_t tokens) const {
    return noise_used_ ? noise_eps_.rows(0, tokens) : Tensor{};
  }
  // The experts each token of the last forward was routed to (N, k) I32, on the model's device.
  Tensor expert_ids(int64_t tokens) const { return topk_idx_.rows(0, tokens); }
  // Parameters a token does not use: the experts it is not routed to.
  int64_t inactive_params_per_token() const;
  // Auxiliary-loss-free balancing (model.router_bias): moves every selection bias by gamma toward
  // balance from the loads the training forwards since the last call counted, and clears them.
  // Nothing to do without biases.
  void update_router_bias(float gamma);

 private:
  // The expert dropout probability of this forward or backward (0 in evaluation).
  float expert_dropout(const ForwardContext& ctx) const {
    return ctx.training ? expert_dropout_ : 0.0f;
  }
  uint64_t shared_dropout_key(const ForwardContext& ctx, size_t shared) const;
  int64_t layer_, n_embed_, n_experts_, top_k_;
  // Expert choice routes every token's E slots (gates = the full softmax) and lets each expert
  // keep its best C, so its experts compute E * C rows (about top_k * N); top-k routers have
  // top_k slots per token and up to N * top_k rows.
  bool expert_choice_;
  int64_t slots_per_token_;
  bool noisy_;
  bool step_aux_scope_;  // model.aux_loss_scope = global_batch
  float capacity_factor_, aux_coef_, z_coef_, seq_aux_coef_;
  RouterScore score_;
  float routed_scaling_;
  float expert_dropout_;  // model.dropout on each expert's output (model.expert_dropout), or 0
  LinearParams gate_, noise_;
  ExpertExchange* exchange_;
  ExpertFFN experts_;  // all E experts, or the exchange's slice
  std::vector<std::unique_ptr<ExpertFFN>> shared_;
  Param* router_bias_ = nullptr;  // (E) selection biases (model.router_bias), not trained by AdamW
  MoEStatsSlots stats_;
  bool noise_used_ = false;  // the last forward added router noise
  // Saved activations (buffers for the largest call; N tokens, k = slots_per_token_).
  Tensor logits_;        // (N, E)
  Tensor noise_logits_;  // (N, E)
  Tensor noise_eps_;     // (N, E)
  Tensor topk_idx_;      // (N, k) I32
  Tensor gates_;         // (N, k)
  // R = expert_rows(N): the rows of the expert-ordered buffers.
  Tensor offsets_;        // (E+1) I32
  Tensor sorted_slots_;   // (R) I32
  Tensor slot_rows_;      // (N*k) I32
  Tensor xs_;             // (R, C) tokens in expert order
  Tensor dense_offsets_;  // (2) I32 {0, N} for shared experts
  // Expert parallel only (P processes in the exchange's group, E/P experts here):
  ExpertExchangePlan plan_;  // how the last forward's rows travelled
  Tensor local_offsets_;     // (E/P + 1) I32 the received rows' offsets per local expert
  Tensor received_xs_;       // (P*R, C) rows the local experts computed
  Tensor ys_;                // (R, C) this process's rows as the experts returned them
  // Scratch (shared by all layers).
  Tensor out_;                          // (N, C)
  Tensor dys_, dxs_;                    // (R, C)
  Tensor dgates_;                       // (N, k)
  Tensor dlogits_, dnoise_logits_;      // (N, E)
  Tensor dshared_;                      // (N, C) shared experts with expert dropout only
  Tensor received_dys_, received_dxs_;  // (P*R, C) expert parallel only
  // Balance losses over segments (ops/router_balance.h), allocated when a run uses them.
  Tensor probs_;           // (N, E) the normalised scores: softmax(logits / temperature), or
                           // sigmoid(logits) over its row sum (sigmoid scores)
  Tensor dprobs_;          // (N, E)
  Tensor seq_fraction_;    // (N, E): rows (0, B) hold each sequence's expert fractions
  int64_t used_rows_ = 0;  // rows the experts computed in the last forward
  ops::RouterArgs router_args(const ForwardContext& ctx) const;
  ops::RouterLossArgs loss_args(const ForwardContext& ctx) const;
  // Sigmoid scores or selection biases route through ops/router_scores.h.
  bool scored() const { return score_ == RouterScore::Sigmoid || router_bias_ != nullptr; }
  ops::ScoredRouterArgs scored_args(const ForwardContext& ctx) const;
  void balance_losses_forward(const ForwardContext& ctx, const Tensor& logits,
                              const Tensor& topk_idx);
  void balance_losses_backward(const ForwardContext& ctx, Tensor dlogits);
  int64_t kept_assignments() const;
  // The rows of the expert-ordered buffers for `tokens` tokens: E * capacity with expert choice,
  // tokens * top_k otherwise (the most a dispatch plan keeps).
  int64_t expert_rows(int64_t tokens) const;
};

}  // namespace moe
