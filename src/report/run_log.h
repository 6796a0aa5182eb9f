// A training run's metrics.jsonl (written by train/trainer.cpp) parsed into typed series: the
// start record (parameter counts, configuration), one StepRecord per optimizer step and one
// EvalRecord per evaluation with the routing statistics of every MoE layer.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace moe {

// One MoE layer's share of a training step's assignments per expert.
struct LayerLoad {
  int64_t layer = 0;
  std::vector<double> fractions;  // (E), sums to 1
};

struct StepRecord {
  int64_t step = 0;  // completed steps (1-based)
  double loss = 0.0, aux_loss = 0.0, z_loss = 0.0, lr = 0.0, grad_norm = 0.0;
  double seq_aux_loss = 0.0;  // 0 in logs written before the sequence-wise loss existed
  double tokens_per_s = 0.0;
  double forward_ms = 0.0, backward_ms = 0.0, optimizer_ms = 0.0;
  std::vector<LayerLoad> expert_load;  // every train.log_every steps, one per MoE layer
};

struct LayerRoutingRecord {
  int64_t layer = 0;
  std::vector<double> expert_usage;  // (E) share of assignments, sums to 1
  double entropy = 0.0;              // nats
  double max_entropy = 0.0;          // ln(E)
  double dropped_fraction = 0.0;
  // (E) each expert's most frequent tokens over the eval batches: (text, assignments), most
  // frequent first; empty in logs written before it was recorded.
  std::vector<std::vector<std::pair<std::string, int64_t>>> top_tokens;
};

struct EvalRecord {
  int64_t step = 0;
  double train_loss = 0.0, val_loss = 0.0;
  std::vector<LayerRoutingRecord> moe;  // one per MoE layer; empty for a dense model
};

struct RunLog {
  std::string name;  // the run directory's name
  int64_t params = 0, active_params = 0;
  double flops_per_token = 0.0;
  std::string data;  // the data description of the start record
  // The start record's non_causal_reason: why the model's routing sees later tokens ("" when
  // it is causal, and in logs written before the field existed).
  std::string non_causal_reason;
  nlohmann::json config;  // RunConfig::to_json() of the run
  std::vector<StepRecord> steps;
  std::vector<EvalRecord> evals;
  bool torn_last_line = false;  // the run was killed while writing its last record

  bool is_moe() const;
  // Tokens per optimizer step: batch_size x block_size x grad_accum from the configuration.
  int64_t tokens_per_step() const;
};

// Parses the text of a metrics.jsonl. `source` names it in errors. An unparsable last line is the
// mark of a killed run and is skipped (torn_last_line); an unparsable line elsewhere, or a log
// without its start record, is an error naming the line.
RunLog parse_run_log(const std::string& text, const std::string& source, const std::string& name);

// Reads RUN_DIR/metrics.jsonl; a missing directory or file is an error that names it.
RunLog read_run_log(const std::string& run_dir);

}  // namespace moe
