#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"
#include "core/rng.h"
#include "core/rng_streams.h"
#include "data/batch_sampler.h"
#include "dist/communicator.h"
#include "dist/launch.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "ops/device.h"
#include "ops/elementwise.h"
#include "report/write_report.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "train/data_parallel.h"
#include "train/evaluator.h"
#include "train/expert_parallel.h"
#include "train/init_from.h"
#include "train/lr_schedule.h"
#include "train/metrics_log.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/run_buffers.h"
#include "train/stop_signal.h"
#include "train/train_data.h"
#include "train/train_state.h"
#include "train/zero_sharding.h"

namespace moe {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// A token as text for the report: its decoded bytes, each byte that is not part of valid UTF-8
// (a BPE piece can end inside a character) written as \xNN; "#id" without a tokenizer.
std::string token_text(const Tokenizer* tokenizer, int32_t id) {
  if (!tokenizer) return "#" + std::to_string(id);
  const std::string bytes = tokenizer->decode({id});
  std::string out;
  for (size_t pos = 0; pos < bytes.size();) {
    if (const auto c = next_code_point(bytes, pos)) {
      append_utf8(out, *c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", static_cast<unsigned char>(bytes[pos++]));
      out += hex;
    }
  }
  return out;
}

// [expert][i] = [text, assignments]: each expert's most frequent tokens over the evaluation.
nlohmann::json top_tokens_json(const LayerRouting& lr, const Tokenizer* tokenizer) {
  nlohmann::json experts = nlohmann::json::array();
  for (const auto& tokens : lr.top_tokens) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [id, count] : tokens)
      list.push_back({token_text(tokenizer, id), count});
    experts.push_back(std::move(list));
  }
  return experts;
}

nlohmann::json routing_json(const EvalResult& r, int64_t n_experts, const Tokenizer* tokenizer) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& lr : r.routing) {
    layers.push_back({{"layer", lr.layer},
                      {"top_tokens", top_tokens_json(lr, tokenizer)},
                      {"expert_usage", lr.expert_usage},
                      {"entropy", lr.entropy},
                      {"max_entropy", std::log(static_cast<double>(n_experts))},
                      {"dropped_fraction", lr.dropped_fraction},
                      {"aux_loss", lr.aux_loss},
                      {"seq_aux_loss", lr.seq_aux_loss}});
  }
  return layers;
}

// [{"layer": i, "fractions": [E]}, ...] from (L, E) fractions in MoE layer order.
nlohmann::json expert_load_json(const std::vector<double>& load, const ModelConfig& m) {
  nlohmann::json layers = nlohmann::json::array();
  const std::vector<int64_t> indices = m.moe_layer_indices();
  const auto e = static_cast<ptrdiff_t>(m.n_experts);
  for (size_t l = 0; l < indices.size(); ++l) {
    const auto first = load.begin() + static_cast<ptrdiff_t>(l) * e;
    layers.push_back({{"layer", indices[l]}, {"fractions", std::vector<double>(first, first + e)}});
  }
  return layers;
}

// Keeps only the records of steps <= `step` (a resumed run rewrites what came after its
// checkpoint, so the log matches an uninterrupted run).
void truncate_metrics(const std::string& path, int64_t step) {
  if (!std::filesystem::exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      auto j = parse_json(line, path);
      if (j.contains("step") && j["step"].get<int64_t>() > step) continue;
    } catch (const std::exception&) {
      continue;  // a torn last line from a killed run
    }
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

// What one optimizer step did, for the metrics log and the progress line.
struct StepRecord {
  LossInfo loss;  // means over the micro-batches
  float lr = 0.0f;
  float grad_norm = 0.0f;  // before clipping
  float router_temperature = 1.0f;
  double forward_ms = 0.0, backward_ms = 0.0, optimizer_ms = 0.0;
  // The step's collectives (DataParallel::comm_totals): bytes this rank sent, time inside them on
  // either thread (what the main thread spends in them, waits for gradient buckets included, is
  // part of optimizer_ms).
  int64_t comm_bytes = 0;
  double comm_ms = 0.0;
  // Of comm_ms, the gradient sums that ran during the backward pass (train/gradient_buckets.h);
  // the rest, comm_ms - comm_hidden_ms, is time the step spent on communication.
  double comm_hidden_ms = 0.0;
  double tokens_per_s = 0.0;
  std::vector<double> expert_load;  // (L, E) expert fractions, means over the micro-batches
};

// One training run: the constructor sets it up (fresh or resumed), run() trains it to the end.
class Trainer {
 public:
  Trainer(const RunConfig& config, const TrainOptions& options);
  TrainResult run();

 private:
  // Set-up, in order.
  void open_model_and_data(const RunConfig& config_in);
  void split_accumulation();
  void open_expert_parallel();
  std::string run_identity() const;
  Device resumable_device() const;
  void check_memory();  // refuses a run that would not fit in memory, before it allocates
  void allocate_training_buffers();
  void refresh_bf16_weights(int64_t steps_done);
  void open_metrics_log();
  void announce_run();

  // The loop's steps.
  StepRecord train_step();
  void draw_micro_batch(int64_t step, int64_t micro);
  void count_step_routing(int64_t step, StepRecord& record);
  void update_router_biases(int64_t step);
  void micro_batch(int64_t step, int64_t micro, StepRecord& record,
                   const Model::GradientsDone& gradients_done);
  void log_step(const StepRecord& record);
  bool eval_due(bool last_step) const;
  void evaluate();
  bool early_stop_due();
  bool checkpoint_due(bool last_step) const;
  void save();
  std::string usable_checkpoint() const;
  TrainResult finish();

  const TrainConfig& tc() const { return config_.train; }
  // Progress and summaries on stdout: rank 0's, unless the run is quiet.
  bool prints() const { return !options_.quiet && dp_.leader(); }
  uint64_t seed() const { return static_cast<uint64_t>(tc().seed); }
  int64_t tokens_per_step() const { return batch_ * seq_ * tc().grad_accum; }

  const Clock::time_point wall_start_ = Clock::now();
  TrainOptions options_;
  DataParallel dp_{world()};
  // train.grad_accum is the step's micro-batches over all ranks (config.json holds that count,
  // so a checkpoint is the same whatever the number of ranks); this rank runs local_accum_ of
  // them, starting at rank * local_accum_.
  int64_t local_accum_ = 1;
  RunConfig config_;
  // dist.expert_parallel > 1: the model holds its slice of the experts; else null. Declared before
  // the model, which uses it to its end.
  std::unique_ptr<ExpertParallel> ep_;
  // Expert parallel: the parameter table of the whole model (ArenaMode::Measure), the layout of
  // its checkpoints and of the parameter counts; null otherwise.
  std::unique_ptr<Model> whole_;
  std::string resume_dir_;             // the checkpoint directory a resumed run was read from
  std::string init_dir_;               // the checkpoint directory train.init_from named
  std::optional<int64_t> saved_step_;  // step of this run's last checkpoint on disk
  std::unique_ptr<Model> model_;
  TrainData data_;
  int64_t batch_ = 0, seq_ = 0;
  std::optional<BatchSampler> train_sampler_, val_sampler_;
  std::unique_ptr<ZeroSharding> zero_;        // dist.zero = 1 on several processes; else null
  std::unique_ptr<TrainingBuffers> buffers_;  // activations, batch, optimizer state
  Tensor tokens_, targets_;                   // (batch, seq) I32: the current batch (in buffers_)
  TrainState state_;
  std::unique_ptr<MetricsLog> metrics_;  // rank 0's; null on the others
  std::unique_ptr<Evaluator> evaluator_;
  std::unique_ptr<Progress> progress_;
  ForwardContext ctx_;
  TrainResult result_;
  int64_t first_step_ = 0;  // state_.step when this invocation started
  double train_seconds_ = 0.0;
  int64_t trained_tokens_ = 0;
  bool have_eval_ = false;
  std::vector<double> step_stats_host_;  // host copy of the step's statistics, reused every step
  std::vector<double> micro_fractions_host_;  // host copy of TrainingBuffers::micro_fractions()
  std::vector<double> router_loads_host_;     // host copy of Model::router_loads()
};

Trainer::Trainer(const RunConfig& config, const TrainOptions& options) : options_(options) {
  open_model_and_data(config);
  allocate_training_buffers();
  open_metrics_log();
  announce_run();
  evaluator_ = std::make_unique<Evaluator>(*model_, tokens_, targets_);
  if (prints()) progress_ = std::make_unique<Progress>(tc().steps, state_.step, tc().log_every);
  first_step_ = state_.step;
  ctx_.training = true;
  ctx_.batch = batch_;
  ctx_.seq = seq_;
  ctx_.loss_scale = 1.0f / static_cast<float>(tc().grad_accum);
  // With one micro-batch per step its own fractions are the step's: no routing pass needed.
  ctx_.step_aux_fraction = config_.model.aux_loss_scope == "global_batch" &&
                           !config_.model.moe_layer_indices().empty() && tc().grad_accum > 1;
}

// A resumed run takes config, weights and tokenizer from its checkpoint; a run started from a
// checkpoint (train.init_from) takes weights and tokenizer from it; a fresh one builds the model
// from `config_in` and its vocabulary from the data. Each is refused before the model is allocated
// when the run would not fit in memory.
void Trainer::open_model_and_data(const RunConfig& config_in) {
  config_ = config_in;
  std::optional<CheckpointFiles> checkpoint;
  if (options_.resume) {
    checkpoint = open_checkpoint(options_.out_dir);
    config_ = checkpoint->config;
    for (const std::string& setting : options_.dist_settings)
      config_.set_assignment(setting);
  }
  if (options_.steps) config_.train.steps = *options_.steps;
  if (options_.device) config_.train.device = *options_.device;
  config_.validate();
  split_accumulation();
  dp_.check_same_run(run_identity());
  open_expert_parallel();
  const Device device = resumable_device();
  if (!options_.resume && !config_.train.init_from.empty())
    checkpoint = open_init_checkpoint(config_);
  std::unique_ptr<Tokenizer> tokenizer;
  if (checkpoint) {
    tokenizer = std::move(checkpoint->tokenizer);
    check_memory();  // the model is known: before reading the data
  }

  data_ = load_train_data(config_.data, config_.model.vocab_size, std::move(tokenizer), seed());
  if (data_.tokenizer) {
    if (!checkpoint) config_.model.vocab_size = data_.tokenizer->vocab_size();
    MOE_CHECK(data_.tokenizer->vocab_size() <= config_.model.vocab_size, "tokenizer has ",
              data_.tokenizer->vocab_size(), " tokens but model.vocab_size is ",
              config_.model.vocab_size);
  }
  if (checkpoint) {
    LoadedCheckpoint loaded = load_checkpoint(std::move(*checkpoint), device, ep_.get());
    model_ = std::move(loaded.model);
    if (options_.resume)
      resume_dir_ = loaded.dir;
    else
      init_dir_ = loaded.dir;
  } else {
    check_memory();  // the vocabulary comes from the data
    model_ = std::make_unique<Model>(config_.model, ArenaMode::Allocate, device, ep_.get());
    model_->init_parameters(rng_key(seed(), rng_stream::kInit));
  }
  if (tc().bf16()) model_->use_bf16_gemms();
}

// A fresh run's train.grad_accum is per rank (the step's batch is batch_size x grad_accum x
// ranks); a resumed run's, from its checkpoint, is already the step's total, which the ranks of
// this invocation must divide.
void Trainer::split_accumulation() {
  if (!options_.resume) config_.train.grad_accum *= dp_.ranks();
  MOE_CHECK(tc().grad_accum % dp_.ranks() == 0, "the run in ", options_.out_dir, " takes ",
            tc().grad_accum, " micro-batches of ", tc().batch_size,
            " rows per step (train.grad_accum over all processes), which ", dp_.ranks(),
            " processes cannot share evenly; resume it on a number of processes that divides ",
            tc().grad_accum);
  local_accum_ = tc().grad_accum / dp_.ranks();
}

// Expert parallel (dist.expert_parallel > 1): the groups of processes that share the experts,
// before the model is built. A resumed run may change the size with --set dist.expert_parallel=N.
void Trainer::open_expert_parallel() {
  const int64_t size = config_.dist.expert_parallel;
  try {
    check_expert_parallel(size, dp_.ranks(), config_.model.n_experts);
  } catch (const Error& e) {
    if (!options_.resume) throw;
    fail(e.what(), "; resume it with --set dist.expert_parallel=N for an N that fits");
  }
  if (size == 1) return;
  ep_ = std::make_unique<ExpertParallel>(world(), size, config_.model.n_experts);
  whole_ = std::make_unique<Model>(config_.model, ArenaMode::Measure);
}

// What every rank must agree on: the configuration and the options that shape the run.
std::string Trainer::run_identity() const {
  return str_cat(config_.to_json().dump(), "\nout ", options_.out_dir, "\nresume ",
                 options_.resume);
}

// The run's device; a resumed run that trained on a device this machine cannot run is told how
// to move it (checkpoints are the same files on every device).
Device Trainer::resumable_device() const {
  try {
    return training_device(config_);
  } catch (const Error& e) {
    if (!options_.resume || options_.device) throw;
    fail(e.what(), "; the run trained on ", config_.train.device, ": continue it on the CPU with ",
         "moe train --resume ", options_.out_dir, " --device cpu");
  }
}

void Trainer::check_memory() {
  require_memory(training_memory(config_, dp_.ranks(), ep_.get()), available_memory(), "this run",
                 "use a smaller model or a smaller train.batch_size");
}

// Activations, batch buffers, optimizer state (restored when resuming) and the samplers.
void Trainer::allocate_training_buffers() {
  batch_ = tc().batch_size;
  seq_ = config_.model.block_size;
  const int64_t numel = model_->param_count();
  if (config_.dist.zero == 1 && dp_.ranks() > 1)
    zero_ = std::make_unique<ZeroSharding>(world(), numel);
  const ElementRange shard = zero_ ? zero_->shard() : ElementRange{0, numel};
  buffers_ = std::make_unique<TrainingBuffers>(*model_, tc(), shard);
  result_.memory = buffers_->memory_use(*model_);
  train_sampler_.emplace(data_.train, batch_, seq_);
  val_sampler_.emplace(data_.val, batch_, seq_);
  tokens_ = buffers_->batch.tokens();
  targets_ = buffers_->batch.targets();
  state_.adam_m = buffers_->optimizer.m();
  state_.adam_v = buffers_->optimizer.v();
  state_.moments_first = shard.begin;
  if (options_.resume) {
    load_train_state(resume_dir_, *model_, state_);
    saved_step_ = state_.step;
  }
  MOE_CHECK(!options_.resume || state_.step < tc().steps, "the run in ", options_.out_dir,
            " has already done ", state_.step, " steps; ask for more with --steps N (N > ",
            state_.step, ")");
  refresh_bf16_weights(state_.step);
  // Buckets sum over every rank: right for plain data parallel only (ZeRO-1 reduce-scatters,
  // expert slices are summed over their replicas).
  if (!zero_ && !ep_) dp_.overlap_gradient_sums(model_->params(), config_.dist.bucket_mib);
}

// Under mixed precision, the bf16 copies of the weights after `steps_done` updates; their
// stochastic rounding draws from rng_key(seed, kWeightRounding, steps_done), so a resumed run
// makes the very copies of an uninterrupted one.
void Trainer::refresh_bf16_weights(int64_t steps_done) {
  if (!tc().bf16()) return;
  model_->refresh_bf16_weights(tc().stochastic_rounding,
                               rng_key(seed(), rng_stream::kWeightRounding, steps_done));
}

void Trainer::open_metrics_log() {
  if (!dp_.leader()) return;
  make_dirs(options_.out_dir);
  const std::string path = options_.out_dir + "/metrics.jsonl";
  if (options_.resume) truncate_metrics(path, state_.step);
  metrics_ = std::make_unique<MetricsLog>(path, options_.resume);
}

// The start record (fresh runs only: a resumed run continues its log) and the opening lines.
void Trainer::announce_run() {
  // Under expert parallelism, the whole model's counts, not those of this process's experts.
  const Model& counted = whole_ ? *whole_ : *model_;
  result_.params = counted.param_count();
  result_.active_params = counted.active_param_count();
  result_.flops_per_token = counted.flops_per_token();
  if (metrics_ && !options_.resume) {
    metrics_->write({{"type", "start"},
                     {"params", result_.params},
                     {"active_params", result_.active_params},
                     {"flops_per_token", result_.flops_per_token},
                     {"memory_bytes", result_.memory.total()},
                     {"device", device_name(model_->device())},
                     {"blas", ops::kernel_library(model_->device())},
                     {"precision", tc().precision},
                     {"data", data_.description},
                     {"causal", config_.model.non_causal_reason().empty()},
                     {"non_causal_reason", config_.model.non_causal_reason()},
                     {"train_tokens", data_.train.size},
                     {"val_tokens", data_.val.size},
                     {"processes", dp_.ranks()},
                     {"expert_parallel", config_.dist.expert_parallel},
                     {"config", config_.to_json()}});
  }
  if (!prints()) return;
  if (const std::string reason = config_.model.non_causal_reason(); !reason.empty())
    std::printf("moe train: not causal: %s\n", reason.c_str());
  std::printf("moe train: %s, %.2f M parameters (%.2f M active per token), data %s, on %s\n",
              config_.model.arch.c_str(), result_.params / 1e6, result_.active_params / 1e6,
              data_.description.c_str(), device_name(model_->device()));
  if (!init_dir_.empty())
    std::printf("moe train: weights from %s (fresh optimizer state)\n", init_dir_.c_str());
  std::printf("moe train: steps %lld -> %lld, batch %lld x %lld tokens, grad_accum %lld\n",
              static_cast<long long>(state_.step), static_cast<long long>(tc().steps),
              static_cast<long long>(batch_), static_cast<long long>(seq_),
              static_cast<long long>(tc().grad_accum));
  if (dp_.ranks() > 1)
    std::printf("moe train: data parallel on %d processes, %lld micro-batches each per step%s\n",
                dp_.ranks(), static_cast<long long>(local_accum_),
                zero_ ? ", optimizer moments sharded (ZeRO-1)" : "");
  if (ep_)
    std::printf(
        "moe train: expert parallel in groups of %lld processes, %lld of %lld experts "
        "each\n",
        static_cast<long long>(ep_->group_size()), static_cast<long long>(ep_->local_experts()),
        static_cast<long long>(config_.model.n_experts));
  std::string memory = result_.memory.str();
  if (const auto available = available_memory())
    memory += ", of " + format_bytes(static_cast<double>(available->bytes)) + " available";
  std::printf("moe train: memory %s\n", memory.c_str());
  std::fflush(stdout);
}

TrainResult Trainer::run() {
  while (state_.step < tc().steps) {
    log_step(train_step());
    const bool last = state_.step == tc().steps;
    bool stop = false;
    if (eval_due(last)) {
      evaluate();
      stop = early_stop_due();
    }
    result_.stop_signal = last ? 0 : dp_.agreed_stop_signal(stop_requested());
    if (checkpoint_due(last) || stop || result_.stop_signal) save();
    if (stop || result_.stop_signal) break;
  }
  return finish();
}

// One optimizer update: forward and backward over grad_accum micro-batches, clipping, AdamW.
StepRecord Trainer::train_step() {
  const int64_t step = state_.step;  // 0-based index of this update
  StepRecord r;
  r.lr = lr_at(tc(), step);
  r.router_temperature = config_.model.temperature_at(step, tc().steps);
  ctx_.router_temperature = r.router_temperature;
  const auto t0 = Clock::now();
  const DataParallel::CommTotals comm_before = dp_.comm_totals();
  model_->params().zero_grads();
  // Losses and expert fractions add up on the device; the gradients' sum of squares goes in the
  // last entry.
  const Tensor stats = buffers_->step_stats();
  const int64_t norm_slot = stats.numel() - 1;
  const int64_t losses = model_->loss_stats().numel();  // then (L, E) fractions up to norm_slot
  ops::fill(stats, 0.0f);
  if (ctx_.step_aux_fraction) count_step_routing(step, r);
  for (int64_t micro = 0; micro < local_accum_; ++micro) {
    // The last micro-batch's backward finishes the gradients, which its hook starts summing.
    micro_batch(step, dp_.rank() * local_accum_ + micro, r,
                micro + 1 == local_accum_ ? dp_.gradients_done_hook() : nullptr);
    ops::add_inplace(stats.rows(0, losses), model_->loss_stats());
    if (norm_slot > losses)
      ops::add_widened(stats.rows(losses, norm_slot),
                       model_->expert_fractions().view(Shape{norm_slot - losses}));
  }
  const auto t_opt = Clock::now();
  AdamW& optimizer = buffers_->optimizer;
  // ZeRO-1: this rank's shard of the gradients is summed, and its norm is the shard's part.
  // Expert parallel: each expert's gradient is summed over the ranks holding that expert.
  if (zero_)
    zero_->reduce_scatter_gradients(model_->params().flat_grads());
  else if (ep_)
    ep_->sum_gradients(model_->params());
  else
    dp_.sum_gradients(model_->params());
  if (!ep_) grad_sum_squares(stats.rows(norm_slot, norm_slot + 1), optimizer.grads());
  // The step's one read from the device: before the update, which must not see a NaN.
  std::vector<double>& host = step_stats_host_;
  host.resize(static_cast<size_t>(stats.numel()));
  ops::copy(cpu_tensor(host.data(), stats.shape), stats);
  // The norm is global already, but for ZeRO-1's, which is the sum of the shards' parts.
  dp_.sum(std::span(host).first(static_cast<size_t>(zero_ ? norm_slot + 1 : norm_slot)));
  // Expert parallel: what this rank holds whole plus the squares of every expert of its group.
  if (ep_) host[norm_slot] = ep_->grad_sum_squares(model_->params());
  for (int64_t i = 0; i < norm_slot; ++i)
    host[i] /= static_cast<double>(tc().grad_accum);  // means over the micro-batches
  r.loss = model_->loss_info(host.data());
  r.expert_load.assign(host.begin() + losses, host.begin() + norm_slot);
  MOE_CHECK(std::isfinite(r.loss.objective), "loss is ", r.loss.objective, " at step ", step + 1,
            " (lr ", r.lr, "); training stopped; ", usable_checkpoint(),
            "; lower train.lr or enable train.grad_clip");
  const double norm = std::sqrt(host[norm_slot]);
  r.grad_norm = static_cast<float>(norm);
  MOE_CHECK(std::isfinite(norm), "gradient norm is ", r.grad_norm, " at step ", step + 1,
            "; training stopped; ", usable_checkpoint());
  clip_grads(optimizer.grads(), norm, tc().grad_clip);
  optimizer.step(r.lr, step + 1);
  if (zero_) zero_->all_gather_values(model_->params().flat_values());
  update_router_biases(step);
  refresh_bf16_weights(step + 1);
  r.optimizer_ms = ms_since(t_opt);
  const DataParallel::CommTotals comm = dp_.comm_totals();
  r.comm_bytes = comm.bytes_sent - comm_before.bytes_sent;
  r.comm_ms = (comm.seconds - comm_before.seconds) * 1000.0;
  // A wait can outlast the sums it waited for by the thread's wake-up.
  r.comm_hidden_ms = std::max(0.0, (comm.hidden_seconds - comm_before.hidden_seconds) * 1000.0);
  const double step_s = ms_since(t0) / 1000.0;
  train_seconds_ += step_s;
  state_.elapsed_seconds += step_s;
  trained_tokens_ += tokens_per_step();
  state_.step = step + 1;
  r.tokens_per_s = tokens_per_step() / std::max(step_s, 1e-9);
  return r;
}

// Draws micro-batch `micro` (of all ranks') of update `step` and its key for dropout and router
// noise: a pure function of seed, step and micro, which is what makes resume exact and lets the
// routing pass see what the training pass will.
void Trainer::draw_micro_batch(int64_t step, int64_t micro) {
  if (config_.data.sampling == "chunks")
    train_sampler_->chunks(tokens_, targets_, step * tc().grad_accum + micro,
                           rng_key(seed(), rng_stream::kTrainChunks));
  else
    train_sampler_->sample(tokens_, targets_,
                           rng_key(seed(), rng_stream::kTrainBatch, step, micro));
  ctx_.key = rng_key(seed(), rng_stream::kStep, step, micro);
}

// Global-batch balancing: the step's expert fractions before the first backward. Each rank runs
// the routing pass (Model::route, the forward as far as the last MoE layer's routing) of its own
// micro-batches and widens their fractions into their rows of the (micro-batches, L E) table;
// one sum over the ranks fills in the other ranks' rows exactly (every row comes from one rank,
// zeros elsewhere), so each rank takes the mean of the very numbers a single process would. Its
// time counts as forward time.
void Trainer::count_step_routing(int64_t step, StepRecord& record) {
  const auto t_fwd = Clock::now();
  const Tensor rows = buffers_->micro_fractions();  // (grad_accum, L E) F64
  const int64_t count = rows.size(1);
  ops::fill(rows, 0.0f);
  for (int64_t local = 0; local < local_accum_; ++local) {
    const int64_t micro = dp_.rank() * local_accum_ + local;
    draw_micro_batch(step, micro);
    model_->route(ctx_, tokens_);
    ops::add_widened(rows.rows(micro, micro + 1).view(Shape{count}),
                     model_->expert_fractions().view(Shape{count}));
  }
  std::vector<double>& host = micro_fractions_host_;
  host.resize(static_cast<size_t>(rows.numel()));
  ops::copy(cpu_tensor(host.data(), rows.shape), rows);
  dp_.sum(host);
  model_->set_step_fractions(host);
  record.forward_ms += ms_since(t_fwd);
}

// Auxiliary-loss-free balancing after the optimizer step of update `step`: the biases follow the
// expert loads of the step's whole batch (Wang et al. 2024, algorithm 1: the load of the training
// batch), so each rank's counts of its own micro-batches are summed over all ranks first. With
// expert parallel too every rank routes its own tokens over all experts, so the sum spans all
// ranks, not a group. The counts are whole numbers in F64, so the sum is exact in any order and
// every rank moves the biases alike, as a single process with the same global batch would. With
// gamma 0 the update only clears the loads: no sum then.
void Trainer::update_router_biases(int64_t step) {
  const float gamma = tc().router_bias_update_at(step);
  const Tensor loads = model_->router_loads();  // (L, E) F64
  if (gamma > 0.0f && dp_.ranks() > 1 && !loads.empty()) {
    std::vector<double>& host = router_loads_host_;
    host.resize(static_cast<size_t>(loads.numel()));
    ops::copy(cpu_tensor(host.data(), loads.shape), loads);
    dp_.sum(host);
    ops::copy(loads, cpu_tensor(host.data(), loads.shape));
  }
  model_->update_router_biases(gamma);
}

// Runs forward and backward on micro-batch `micro` of update `step`; adds the times to `record`.
void Trainer::micro_batch(int64_t step, int64_t micro, StepRecord& record,
                          const Model::GradientsDone& gradients_done) {
  draw_micro_batch(step, micro);
  const auto t_fwd = Clock::now();
  model_->forward(ctx_, tokens_, targets_);
  record.forward_ms += ms_since(t_fwd);
  const auto t_bwd = Clock::now();
  model_->backward(ctx_, gradients_done);
  record.backward_ms += ms_since(t_bwd);
}

void Trainer::log_step(const StepRecord& r) {
  if (!metrics_) return;
  nlohmann::json record = {{"type", "step"},
                           {"step", state_.step},
                           {"loss", r.loss.ce},
                           {"objective", r.loss.objective},
                           {"aux_loss", r.loss.aux},
                           {"z_loss", r.loss.z},
                           {"seq_aux_loss", r.loss.seq_aux},
                           {"lr", r.lr},
                           {"grad_norm", r.grad_norm},
                           {"router_temperature", r.router_temperature},
                           {"tokens_per_s", r.tokens_per_s},
                           {"forward_ms", r.forward_ms},
                           {"backward_ms", r.backward_ms},
                           {"optimizer_ms", r.optimizer_ms},
                           {"comm_bytes", r.comm_bytes},
                           {"comm_ms", r.comm_ms},
                           {"comm_hidden_ms", r.comm_hidden_ms}};
  // Every log interval, each MoE layer's share of the step's assignments per expert (the load
  // curves of report.html); not every step, since E x L numbers per step would dominate the log.
  if (!r.expert_load.empty() && state_.step % tc().log_every == 0)
    record["expert_load"] = expert_load_json(r.expert_load, config_.model);
  // On a device that reports them (a GPU): its memory high-water mark so far, and model FLOPs
  // utilisation, this step's training FLOPs (Model::flops_per_token) over the device's peak rate
  // for the run's precision (the bf16 tensor-core rate with train.precision = "bf16").
  const Device device = model_->device();
  if (const size_t peak = ops::peak_memory_bytes(device); peak > 0)
    record["peak_memory_mib"] = static_cast<double>(peak) / (1 << 20);
  if (const double peak = ops::peak_flops(device, tc().bf16() ? DType::BF16 : DType::F32); peak > 0)
    record["mfu"] = result_.flops_per_token * r.tokens_per_s / peak;
  metrics_->write(record);
  if (progress_) progress_->step(state_.step, r.loss.ce, r.lr, r.tokens_per_s);
}

bool Trainer::eval_due(bool last_step) const {
  return (tc().eval_every > 0 && state_.step % tc().eval_every == 0) || last_step;
}

// Train and val loss on fixed batches (the same at every eval), routing statistics, the eval
// record and report, and the best-val bookkeeping that early stopping reads.
void Trainer::evaluate() {
  const int64_t step = state_.step;
  const float tau = config_.model.temperature_at(step, tc().steps);
  const EvalResult tr = evaluator_->random_windows(*train_sampler_, tc().eval_iters,
                                                   rng_key(seed(), rng_stream::kEvalTrain), tau);
  const EvalResult va = evaluator_->random_windows(*val_sampler_, tc().eval_iters,
                                                   rng_key(seed(), rng_stream::kEvalVal), tau);
  result_.train_loss = tr.loss;
  result_.val_loss = va.loss;
  have_eval_ = true;
  if (metrics_) {
    metrics_->write({{"type", "eval"},
                     {"step", step},
                     {"train_loss", tr.loss},
                     {"val_loss", va.loss},
                     {"train_ppl", std::exp(tr.loss)},
                     {"val_ppl", std::exp(va.loss)},
                     {"moe", routing_json(va, config_.model.n_experts, data_.tokenizer.get())}});
    refresh_run_report(options_.out_dir);  // a failure is a warning, never a stop
  }
  if (state_.best_val_step < 0 || va.loss < state_.best_val_loss) {
    state_.best_val_loss = static_cast<float>(va.loss);
    state_.best_val_step = step;
    state_.evals_since_best = 0;
  } else {
    ++state_.evals_since_best;
  }
  if (progress_) {
    char line[256];
    std::snprintf(line, sizeof line, "step %lld: train loss %.4f, val loss %.4f (ppl %.2f)",
                  static_cast<long long>(step), tr.loss, va.loss, std::exp(va.loss));
    progress_->message(line);
  }
}

bool Trainer::early_stop_due() {
  if (tc().early_stop_patience <= 0 || state_.evals_since_best < tc().early_stop_patience)
    return false;
  result_.stopped_early = true;
  if (progress_)
    progress_->message("early stopping: val loss has not improved for " +
                       std::to_string(state_.evals_since_best) + " evals");
  return true;
}

bool Trainer::checkpoint_due(bool last_step) const {
  return (tc().ckpt_every > 0 && state_.step % tc().ckpt_every == 0) || last_step;
}

// A save that fails (non-finite weights or optimizer state, a full disk) changes nothing on disk,
// so the message can say which checkpoint is still there. Rank 0 writes it (the ranks hold the
// same weights and, but for ZeRO-1's shards and expert-parallel slices, which rank 0 gathers
// first, the same optimizer state); every rank keeps its step for usable_checkpoint().
void Trainer::save() {
  TrainState saved = state_;
  NamedWeights weights = named_weights(model_->params(), model_->params().flat_values());
  std::vector<float> m, v;    // (numel) rank 0's host copies of the gathered moments
  std::vector<float> values;  // (whole numel) rank 0's host copy of the gathered weights
  if (ep_) {
    if (dp_.leader()) {
      values.resize(static_cast<size_t>(whole_->param_count()));
      m.resize(values.size());
      v.resize(values.size());
    }
    const ParamTable& params = model_->params();
    ep_->gather_whole(values, params.flat_values(), params, whole_->params());
    ep_->gather_whole(m, state_.adam_m, params, whole_->params());
    ep_->gather_whole(v, state_.adam_v, params, whole_->params());
    if (dp_.leader())
      weights = named_weights(whole_->params(), cpu_tensor(values.data(), {std::ssize(values)}));
    saved.adam_m = cpu_tensor(m.data(), {std::ssize(m)});
    saved.adam_v = cpu_tensor(v.data(), {std::ssize(v)});
  }
  if (zero_) {
    if (dp_.leader()) {
      m.resize(static_cast<size_t>(model_->param_count()));
      v.resize(m.size());
    }
    zero_->gather_to_leader(m, state_.adam_m);
    zero_->gather_to_leader(v, state_.adam_v);
    saved.adam_m = cpu_tensor(m.data(), {std::ssize(m)});
    saved.adam_v = cpu_tensor(v.data(), {std::ssize(v)});
    saved.moments_first = 0;
  }
  if (dp_.leader()) {
    try {
      save_checkpoint(options_.out_dir, config_, weights, data_.tokenizer.get(), state_.step,
                      [&](const std::string& dir) {
                        save_train_state(dir, config_, whole_ ? *whole_ : *model_, saved);
                      });
    } catch (const std::exception& e) {
      fail(e.what(), "; training stopped; ", usable_checkpoint());
    }
  }
  saved_step_ = state_.step;
}

std::string Trainer::usable_checkpoint() const {
  if (!saved_step_) return "no checkpoint of this run has been saved yet";
  return str_cat("the last checkpoint (step ", *saved_step_, ") in ", options_.out_dir,
                 " is intact");
}

// A run that ends before its first eval still reports losses (unless a signal asked it to stop
// now), and one that did no step (nothing left to do) still leaves a checkpoint.
TrainResult Trainer::finish() {
  if (!have_eval_ && !result_.stop_signal) evaluate();
  if (state_.step == first_step_) save();
  if (progress_) progress_->finish();
  result_.steps = state_.step;
  result_.tokens_per_s = train_seconds_ > 0 ? trained_tokens_ / train_seconds_ : 0.0;
  result_.best_val_loss = state_.best_val_loss;
  result_.seconds = std::chrono::duration<double>(Clock::now() - wall_start_).count();
  return result_;
}

}  // namespace

Device training_device(const RunConfig& config) {
  const Device device = config.train.device_kind();
  ops::require_device(device);
  return device;
}

TrainResult train(const RunConfig& config, const TrainOptions& options) {
  // The collectives of the run's device (NCCL's for CUDA) before the trainer holds world().
  RunConfig device_config =
      options.resume && !options.device ? read_checkpoint_config(options.out_dir) : config;
  if (options.device) device_config.train.device = *options.device;
  use_device_collectives(device_config.train.device_kind());
  return Trainer(config, options).run();
}

}  // namespace moe
