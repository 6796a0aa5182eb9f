// The language model: embeddings -> blocks -> final norm -> LM head -> cross-entropy, with an
// explicit backward. One definition for both architectures and every device.
#pragma once
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "config/config.h"
#include "core/arena.h"
#include "nn/block.h"
#include "nn/context.h"
#include "nn/gemm.h"
#include "nn/init.h"
#include "nn/norm.h"
#include "nn/params.h"
#include "ops/device.h"

namespace moe {

struct LossInfo {
  double ce = 0.0;       // mean cross-entropy
  double aux = 0.0;      // sum over MoE layers of the load-balancing loss (no coefficient)
  double z = 0.0;        // sum over MoE layers of the router z-loss (no coefficient)
  double seq_aux = 0.0;  // sum over MoE layers of the sequence-wise balance loss (no coefficient)
  // ce + aux_loss_coef * aux + z_loss_coef * z + seq_aux_loss_coef * seq_aux
  double objective = 0.0;
};

// What one MoE layer's last forward measured, on the host.
struct MoELayerStats {
  int64_t layer = 0;                    // index of the block
  double aux_loss = 0.0, z_loss = 0.0;  // before their coefficients
  double seq_aux_loss = 0.0;            // before its coefficient
  double entropy = 0.0;                 // mean routing entropy, nats
  std::vector<float> expert_fraction;   // (E) share of the assignments per expert
  // Assignments dropped by the capacity limit, of N * k; with expert choice, tokens no expert
  // took, of N.
  int64_t dropped = 0;
  int64_t assignments = 0;
};

// Everything the last forward with targets measured, read from the device in three copies.
struct ForwardStats {
  LossInfo loss;
  std::vector<MoELayerStats> moe;  // one per MoE layer, in layer order
};

class Model {
 public:
  // Registers and allocates every parameter (values uninitialised: call init_parameters or load).
  // ArenaMode::Measure builds a model that holds no memory: its parameter table and its
  // allocate* calls only count bytes (weight_bytes, activation_bytes), for memory estimates and
  // for checking a checkpoint's tensor names and shapes before anything is allocated. Such a
  // model cannot run. Parameters, activations and statistics live on `device`. With an
  // `exchange` (expert parallel, nn/expert_exchange.h) the model holds only the exchange's slice
  // of every MoE layer's experts; its parameters are initialised as in one process.
  explicit Model(const ModelConfig& cfg, ArenaMode mode = ArenaMode::Allocate,
                 Device device = Device::CPU, ExpertExchange* exchange = nullptr);
  Device device() const { return params_.device(); }
  void init_parameters(uint64_t seed) { params_.initialize(seed); }
  // Mixed precision (train.precision = bf16; nn/gemm.h): the Linear layers, the experts and the
  // LM head multiply bf16 copies of the weights by activations cast to bf16, accumulating in
  // fp32; the weights themselves (the fp32 master copy), gradients and everything else stay fp32.
  // The router's gate stays fp32 (Fedus et al. 2021, Switch Transformers, "selective precision").
  // Call before allocate(). The copies are made by refresh_bf16_weights, which must run whenever
  // the weights change (after initialising or loading them, after every optimizer step).
  void use_bf16_gemms();
  bool bf16_gemms() const { return params_.bf16_gemm_values(); }
  // Rounds the weights into their bf16 copies: to nearest even, or stochastically with the random
  // bits of `key` (ops/cast.h).
  void refresh_bf16_weights(bool stochastic, uint64_t key);
  // Activations for calls of up to (batch, seq); seq <= block_size.
  void allocate(int64_t batch, int64_t seq);
  // KV caches for batch-1 decoding (needs allocate(1, block_size)).
  void allocate_kv_cache();

  // tokens (B, T) I32; targets (B, T) I32 or empty (then only logits are computed). Either may be
  // a host tensor: they are copied to the model's device. The losses and routing statistics stay
  // on the device (loss_stats(), read_stats()).
  void forward(const ForwardContext& ctx, const Tensor& tokens, const Tensor& targets);
  // Told by backward each time it is done with a run of parameters, walking the layers in
  // reverse: done(first) means this backward writes no gradient at flat elements [first, numel)
  // any more. The table holds the embeddings, the blocks in order, the final norm and the LM head,
  // so the finished gradients are always a tail of the flat buffer: done is called after the LM
  // head and final norm, after each block, and with 0 after the embeddings. A data-parallel
  // trainer starts summing those gradients over the processes while the backward goes on.
  using GradientsDone = std::function<void(int64_t first)>;
  // Gradients of the last forward's objective (times ctx.loss_scale), accumulated into the
  // parameter gradients. Needs a forward with targets and the same ctx.
  void backward(const ForwardContext& ctx, const GradientsDone& done = nullptr);
  // (B*T, V) logits of the last forward (overwritten by backward).
  Tensor logits() const { return logits_.rows(0, last_tokens_); }

  const ModelConfig& config() const { return cfg_; }
  ParamTable& params() { return params_; }
  const ParamTable& params() const { return params_; }
  int64_t param_count() const { return params_.numel(); }
  // Memory of the parameter values and gradients, and of the activations allocated so far.
  size_t weight_bytes() const { return params_.bytes_reserved(); }
  size_t activation_bytes() const {
    return arena_.bytes_reserved() + scratch_arena_.bytes_reserved();
  }
  // The part of activation_bytes that all blocks share (buffers of one forward or backward call).
  size_t scratch_bytes() const { return scratch_arena_.bytes_reserved(); }
  int64_t active_param_count() const;
  // Training FLOPs per token (forward + backward) at full context, as PaLM counts them
  // (Chowdhery et al. 2022, appendix B): 6 per active non-embedding parameter plus
  // 6 * n_layers * n_embed * (T + 1) for the causal attention scores and weighted sums.
  double flops_per_token() const;
  // The last forward's losses on the device, (1 + ops::kRouterStats L) F64 for L MoE layers: the
  // mean cross-entropy, then each MoE layer's ops::RouterStat entries. A trainer adds these up over
  // micro-batches on the device and reads the sum once per step.
  Tensor loss_stats() const { return loss_stats_; }
  // The last forward's expert fractions on the device, (L, E) in the model's dtype: each MoE
  // layer's share of the assignments per expert. A trainer adds them into its step statistics.
  Tensor expert_fractions() const { return fractions_; }
  // The objective's parts from numbers laid out as loss_stats().
  LossInfo loss_info(const double* loss_stats) const;
  // Copies every statistic of the last forward with targets to the host.
  ForwardStats read_stats() const;
  // Copies each MoE layer's expert choices of the last forward to the host: [layer] (N * k), the
  // k experts of token n at [n * k, n * k + k). One copy per MoE layer.
  std::vector<std::vector<int32_t>> read_expert_ids() const;
  std::vector<int64_t> moe_layer_indices() const { return cfg_.moe_layer_indices(); }
  // The MoE layers, in layer order.
  std::vector<const MoELayer*> moe_layers() const;
  // After an optimizer step: every MoE layer's selection biases move by gamma toward balance
  // (MoELayer::update_router_bias) and router_loads() return to 0; nothing without
  // model.router_bias.
  void update_router_biases(float gamma);
  // (L, E) F64 on the device: each MoE layer's assignments per expert since the last bias update,
  // whole numbers, counted by the training forwards (empty without model.router_bias). A
  // data-parallel trainer sums them over its processes before update_router_biases, so that the
  // biases follow the loads of the whole step.
  Tensor router_loads() const { return router_loads_; }

  // Global-batch balancing (model.aux_loss_scope = global_batch; Qiu et al. 2025, arXiv
  // 2501.11873): the Switch loss of every micro-batch of an optimizer step uses the expert
  // fractions of the whole step, which are constants of the gradient but need the routing of all
  // its micro-batches before the first backward. route(ctx, tokens), with a micro-batch's ctx and
  // tokens exactly as its training forward will see them, runs the forward only as far as the
  // last MoE layer's routing (no experts there, no later layer, no LM head): expert_fractions()
  // are then the micro-batch's, bit for bit its training forward's. set_step_fractions takes
  // every micro-batch's, (micro_batches, L*E) on the host in micro-batch order, and makes their
  // mean the step's; the training passes then set ctx.step_aux_fraction.
  void route(const ForwardContext& ctx, const Tensor& tokens);
  void set_step_fractions(std::span<const double> micro_fractions);
  // (L, E) F32 the step's expert fractions (empty unless model.aux_loss_scope = global_batch).
  Tensor step_fractions() const { return step_fractions_; }

 private:
  ModelConfig cfg_;
  ParamTable params_;
  Param* wte_;
  Param* wpe_ = nullptr;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::vector<int64_t> block_first_;  // (n_layers) flat element of each block's first parameter
  int64_t head_first_ = 0;            // flat element of the final norm's first parameter
  std::unique_ptr<Norm> norm_f_;
  LinearParams lm_head_;
  bool bf16_weights_ready_ = false;  // refresh_bf16_weights ran (under mixed precision)
  Arena arena_;
  // The blocks' buffers of one forward or backward call, rewound for each block so that all
  // blocks share them: activation memory is the saved activations of every block plus the
  // scratch of one.
  Arena scratch_arena_;
  int64_t last_tokens_ = 0;
  Tensor tokens_, targets_;     // (N) I32 copies of the last batch
  Tensor embed_;                // (N, C) block 0 input
  Tensor losses_;               // (N)
  Tensor logits_;               // (N, V); becomes dlogits in backward
  Tensor dresid_a_, dresid_b_;  // (N, C) residual-stream gradients
  Tensor dfinal_;               // (N, C)
  GemmCasts head_casts_;        // the LM head's bf16 GEMM inputs: x (N, C), dlogits (N, V)
  // Statistics of the last forward, written by the ops on the device (L MoE layers, E experts).
  Tensor loss_stats_;                 // (1 + ops::kRouterStats L) F64, as loss_stats() describes
  Tensor fractions_;                  // (L, E) F32 expert fractions
  Tensor step_fractions_;             // (L, E) F32 expert fractions of the optimizer step
  Tensor router_loads_;               // (L, E) F64 as router_loads() describes
  Tensor dropped_;                    // (L) I32 as MoELayerStats::dropped
  std::vector<Tensor> block_inputs_;  // views: input of each block for the last forward
  // Copies tokens (B, T) to the device and returns their embeddings (B*T, C), block 0's input.
  Tensor embed(const ForwardContext& ctx, const Tensor& tokens);
};

}  // namespace moe
