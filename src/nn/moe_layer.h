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
#include "nn/expert_ffn.h"
#include "nn/init.h"
#include "nn/params.h"
#include "ops/moe_router.h"

namespace moe {

// Where an MoE layer's forward writes what it measures: views of the model's statistics buffers
// on the model's device (Model::read_stats brings them to the host).
struct MoEStatsSlots {
  Tensor router;    // (3) F64: the ops::RouterStat entries
  Tensor fraction;  // (E) F32: share of the assignments per expert (also used by backward)
  Tensor dropped;   // (1) I32: assignments dropped by the capacity limit
};

// The checkpoint name of projection `proj` ("w1", "w2", "w3") of expert `expert` of the MoE layer
// named `prefix` (".weight" / ".bias" are appended).
std::string expert_param_name(const std::string& prefix, int64_t expert, const std::string& proj);

class MoELayer {
 public:
  MoELayer(ParamTable& table, const std::string& prefix, const ModelConfig& cfg, int64_t layer);
  void allocate(Arena& arena, int64_t max_tokens, const MoEStatsSlots& stats);
  // Returns out (N, C); x (N, C) is the normalised input.
  Tensor forward(const ForwardContext& ctx, const Tensor& x);
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

 private:
  int64_t layer_, n_embed_, n_experts_, top_k_;
  bool noisy_;
  float capacity_factor_, aux_coef_, z_coef_;
  LinearParams gate_, noise_;
  ExpertFFN experts_;
  std::vector<std::unique_ptr<ExpertFFN>> shared_;
  MoEStatsSlots stats_;
  bool noise_used_ = false;  // the last forward added router noise
  // Saved activations (buffers for the largest call; N tokens, k = top_k).
  Tensor logits_;         // (N, E)
  Tensor noise_logits_;   // (N, E)
  Tensor noise_eps_;      // (N, E)
  Tensor topk_idx_;       // (N, k) I32
  Tensor gates_;          // (N, k)
  Tensor offsets_;        // (E+1) I32
  Tensor sorted_slots_;   // (N*k) I32
  Tensor slot_rows_;      // (N*k) I32
  Tensor xs_;             // (N*k, C) tokens in expert order
  Tensor out_;            // (N, C)
  Tensor dense_offsets_;  // (2) I32 {0, N} for shared experts
  // Backward scratch.
  Tensor dys_, dxs_;                // (N*k, C)
  Tensor dgates_;                   // (N, k)
  Tensor dlogits_, dnoise_logits_;  // (N, E)
  Tensor dx_tmp_;                   // (N, C)
  int64_t used_rows_ = 0;           // rows the experts computed in the last forward
  ops::RouterArgs router_args(const ForwardContext& ctx) const;
  int64_t kept_assignments() const;
};

}  // namespace moe
