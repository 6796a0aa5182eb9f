// Run configuration: model, training and data settings. Every setting is a named field
// ("model.n_embed", "train.lr", ...) in one registry, so TOML files, --set key=value, config.json
// and the metrics log all speak the same names, and an unknown or out-of-range value is rejected
// with a message that names it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"

namespace moe {

struct ModelConfig {
  std::string arch = "gpt";  // "gpt" (makeMoE) or "llama" (Mixtral layout)
  int64_t vocab_size = 65;
  int64_t block_size = 32;
  int64_t n_embed = 128;
  int64_t n_layers = 8;
  int64_t n_heads = 8;
  int64_t n_kv_heads = 0;  // 0: same as n_heads (no grouping)
  int64_t ffn_hidden = 512;
  int64_t n_experts = 8;
  int64_t top_k = 2;
  std::string moe_layers = "all";     // "all", "none", "every:N" (layers i % N == N - 1), "0,2,5"
  std::string router = "noisy_topk";  // "topk", "noisy_topk", "temperature", "expert_choice"
  float router_temperature = 1.0f;
  float router_temperature_end = 1.0f;
  int64_t router_temperature_steps = 0;  // 0: anneal over the whole run
  // The noisy router draws its noise in evaluation too (train's evals, moe eval), as the makeMoE
  // tutorial's code does; the noise of each eval batch comes from a fixed key.
  bool router_noise_at_eval = false;
  // Router scores and auxiliary-loss-free balancing (DeepSeek-V3, arXiv 2412.19437, section
  // 2.1.2; ops/router_scores.h). "softmax" (every router) or "sigmoid" (router topk only): the
  // kept sigmoid scores, renormalised to sum to 1, times routed_scaling_factor, are the gates.
  std::string router_score = "softmax";
  float routed_scaling_factor = 1.0f;  // sigmoid scores only
  // Per-expert biases added to the scores for the top-k selection only, moved toward balance
  // after each step (train.router_bias_update); saved in the checkpoint, since routing uses them.
  bool router_bias = false;
  int64_t n_shared_experts = 0;
  // Fine-grained experts (Dai et al. 2024, DeepSeekMoE §3.1): the hidden size of every routed and
  // shared expert; 0: ffn_hidden. Dense layers keep ffn_hidden.
  int64_t expert_hidden = 0;
  float capacity_factor = 0.0f;  // 0: dropless
  float aux_loss_coef = 0.0f;
  float z_loss_coef = 0.0f;
  // Load balancing beyond the per-micro-batch Switch loss (ops/router_balance.h): the weight of
  // DeepSeek-V3's sequence-wise auxiliary loss, and where the Switch loss counts its expert
  // fractions: "micro_batch" or "global_batch" (over all micro-batches of an optimizer step).
  float seq_aux_loss_coef = 0.0f;
  std::string aux_loss_scope = "micro_batch";
  float dropout = 0.1f;
  // Where an MoE layer's dropout acts: false, on the layer's output before the residual add (as
  // a dense FFN's); true, on each expert's output before its gate weighs it, one mask per
  // (token, expert) row, as the makeMoE tutorial's Expert ends in nn.Dropout.
  bool expert_dropout = false;
  std::string init = "kaiming";  // "normal", "kaiming", "xavier"
  float init_std = 0.02f;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  // Multiplies q.k in attention; 0: 1/sqrt(head_dim) (Vaswani et al. 2017). The makeMoE
  // tutorial's heads scale by n_embed**-0.5 instead (GPT-style models only: llama.cpp and
  // Hugging Face Llama, the Llama-style exports, always use 1/sqrt(head_dim)).
  float attention_scale = 0.0f;

  bool is_gpt() const { return arch == "gpt"; }
  bool has_bias() const { return is_gpt(); }
  int64_t head_dim() const { return n_embed / n_heads; }
  int64_t kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  // Expert-choice routing (ops/expert_choice.h): each expert picks top_k * N / E tokens of the
  // batch, so a token's routing depends on the other tokens of its batch, later ones included.
  bool is_expert_choice() const { return router == "expert_choice"; }
  // Why a token's output can depend on later tokens (for run output and records), or "" when the
  // model is causal.
  std::string non_causal_reason() const;
  int64_t expert_ffn_hidden() const { return expert_hidden > 0 ? expert_hidden : ffn_hidden; }
  bool is_moe_layer(int64_t layer) const;
  std::vector<int64_t> moe_layer_indices() const;
  // Router temperature at a training step (linear anneal); total_steps is the run's length.
  float temperature_at(int64_t step, int64_t total_steps) const;
  void validate() const;
};

// The most threads a command accepts (--threads of every command, train.threads). Far more
// threads than cores only cost memory, and the OpenMP runtime fails to start 40,000 of them and
// crashes on 100,000. 1024 is above the hardware threads of today's largest two-socket servers
// (2 x 192 cores x 2) and, unlike a multiple of this machine's cores, the same everywhere, so a
// configuration valid on one machine is valid on all.
inline constexpr int64_t kMaxThreads = 1024;

// The most rows in a batch (train.batch_size, moe eval --batch-size): activations are sized from
// it, and a bound keeps every size product far inside int64.
inline constexpr int64_t kMaxBatchSize = int64_t{1} << 20;

struct TrainConfig {
  int64_t batch_size = 16;
  int64_t steps = 5000;
  int64_t grad_accum = 1;
  float lr = 1e-3f;
  float min_lr = 1e-4f;
  std::string lr_schedule = "cosine";  // "cosine" (after warmup) or "constant"
  int64_t warmup_steps = 0;
  float weight_decay = 0.01f;
  // Which parameters weight decay applies to: "weights", the matrices and embeddings (nanoGPT's
  // groups), or "all", biases and norm gains too, as torch.optim.AdamW(model.parameters()) does
  // in the makeMoE tutorial.
  std::string weight_decay_params = "weights";
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float adam_eps = 1e-8f;
  float grad_clip = 0.0f;  // 0: no clipping
  int64_t eval_every = 500;
  int64_t eval_iters = 50;
  int64_t ckpt_every = 1000;
  int64_t early_stop_patience = 0;  // evals without val improvement before stopping; 0: off
  int64_t log_every = 10;
  int64_t seed = 1337;
  int64_t threads = 0;  // 0: OpenMP default
  // Where the model, its gradients and the optimizer state live: "cpu" or "cuda" (core/tensor.h
  // device names). Checkpoints do not depend on it, so a run may resume on another device.
  std::string device = "cpu";
  // A checkpoint (a run directory or a checkpoint directory) whose weights start a new run, with a
  // fresh optimizer at step 0 (fine-tuning, continuing an upcycled model); "": random init.
  std::string init_from;
  // Auxiliary-loss-free balancing (model.router_bias; Wang et al. 2024, arXiv 2408.15664): after
  // each step every bias moves by this gamma toward balance, until step router_bias_update_until
  // (0: the whole run), then gamma is 0 (DeepSeek-V3 stops the updates for the last tokens).
  float router_bias_update = 1e-3f;
  int64_t router_bias_update_until = 0;
  // "fp32", or "bf16": mixed precision (docs/ARCHITECTURE.md, "Mixed precision"): fp32 master
  // weights and AdamW moments; each step's GEMMs multiply bf16 copies of the weights by bf16
  // activations with fp32 accumulation. Checkpoints are fp32 either way.
  std::string precision = "fp32";
  // bf16 only: the weights' bf16 copies are rounded stochastically (keyed by the seed and the
  // step, so a resumed run rounds as an uninterrupted one) instead of to nearest.
  bool stochastic_rounding = false;

  // The bias update speed gamma after `step` completed steps.
  float router_bias_update_at(int64_t step) const;
  bool bf16() const { return precision == "bf16"; }
  // The Device `device` names; throws, listing the device names, when it names none.
  Device device_kind() const;
  void validate() const;
};

struct DataConfig {
  std::string source = "shakespeare";  // "shakespeare", "text", "synthetic", "prepared"
  std::string path;  // text file; for "shakespeare" empty means the Tiny Shakespeare copy found
                     // in $MOE_DATA_DIR, ./data or ../shared/data
  float train_fraction = 0.9f;
  int64_t synthetic_tokens = 200000;
  std::string dir;                  // for "prepared": a directory written by `moe prepare`
  std::string sampling = "random";  // training batches: "random" windows or shuffled "chunks"

  // Every source but synthetic token ids is text read through a tokenizer.
  bool needs_tokenizer() const { return source != "synthetic"; }

  void validate() const;
};

// How a run spreads its work over the processes (mpirun -np N). These settings
// change where state lives, not what a step computes, so `moe train --resume` may change them.
struct DistConfig {
  // ZeRO stage (Rajbhandari et al. 2020, arXiv 1910.02054): 0 keeps the whole AdamW state on every
  // process; 1 shards the moments across the processes (train/zero_sharding.h).
  int64_t zero = 0;
  // Size of the buckets in which the gradients are summed during the backward pass (MiB of F32
  // gradients; PyTorch DDP's default bucket_cap_mb, 25); 0 sums them after the backward pass.
  // Used by plain data parallel on host memory (train/gradient_buckets.h); ZeRO-1, expert
  // parallel and devices sum after the backward pass whatever it says.
  float bucket_mib = 25.0f;
  // Expert parallelism (train/expert_parallel.h): each group of this many consecutive processes
  // shares the experts of every MoE layer, each holding n_experts / expert_parallel of them; 1
  // keeps every expert on every process. It must divide the processes and model.n_experts.
  int64_t expert_parallel = 1;

  void validate() const;
};

struct RunConfig {
  ModelConfig model;
  TrainConfig train;
  DataConfig data;
  DistConfig dist;

  // "section.key" = value from a string (as --set gives it); unknown keys and bad values throw.
  void set(const std::string& key, const std::string& value);
  // "section.key=value" (as --set gives it); a missing '=' or key throws.
  void set_assignment(const std::string& assignment);
  // Loads a TOML file with [model], [train], [data], [dist] tables.
  void load_toml(const std::string& path);
  // The same from TOML text held in memory; `source` names it in messages (load_toml: the path).
  void load_toml_text(std::string_view toml_text, const std::string& source);
  void validate() const;
  nlohmann::json to_json() const;  // {"model": {...}, "train": {...}, "data": {...}, "dist": {...}}
  void from_json(const nlohmann::json& j);
  static std::vector<std::string> preset_names();
  static RunConfig preset(const std::string& name);
};

nlohmann::json model_config_json(const ModelConfig& m);
// A setting whose value differs between two configurations.
struct SettingDifference {
  std::string name;     // qualified: "model.n_layers"
  nlohmann::json a, b;  // its values in the first and the second configuration
};
// The first model setting, in registry order, that differs between `a` and `b`; nullopt when they
// describe the same model.
std::optional<SettingDifference> first_model_difference(const ModelConfig& a, const ModelConfig& b);
ModelConfig model_config_from_json(const nlohmann::json& j);

}  // namespace moe
