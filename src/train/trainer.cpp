#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "core/arena.h"
#include "core/blas_kernels.h"
#include "core/check.h"
#include "core/fs.h"
#include "core/rng.h"
#include "core/rng_streams.h"
#include "data/batch_sampler.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "ops/elementwise.h"
#include "report/write_report.h"
#include "train/evaluator.h"
#include "train/lr_schedule.h"
#include "train/metrics_log.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/train_data.h"
#include "train/train_state.h"

namespace moe {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

nlohmann::json routing_json(const EvalResult& r, int64_t n_experts) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& lr : r.routing) {
    layers.push_back({{"layer", lr.layer},
                      {"expert_usage", lr.expert_usage},
                      {"entropy", lr.entropy},
                      {"max_entropy", std::log(static_cast<double>(n_experts))},
                      {"dropped_fraction", lr.dropped_fraction},
                      {"aux_loss", lr.aux_loss}});
  }
  return layers;
}

// Keeps only the records of steps <= `step` (a resumed run rewrites what came after its
// checkpoint, so the log matches an uninterrupted run).
void truncate_metrics(const std::string& path, int64_t step) {
  if (!std::filesystem::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      auto j = nlohmann::json::parse(line);
      if (j.contains("step") && j["step"].get<int64_t>() > step) continue;
    } catch (const nlohmann::json::exception&) {
      continue;  // a torn last line from a killed run
    }
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

}  // namespace

TrainResult train(const RunConfig& config_in, const TrainOptions& options) {
  const auto wall_start = Clock::now();
  RunConfig config = config_in;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::string resume_dir;
  if (options.resume) {
    LoadedCheckpoint ckpt = load_checkpoint(options.out_dir);
    config = ckpt.config;
    model = std::move(ckpt.model);
    tokenizer = std::move(ckpt.tokenizer);
    resume_dir = ckpt.dir;
  }
  if (options.steps) config.train.steps = *options.steps;
  config.validate();
  const TrainConfig& tc = config.train;

  TrainData data = load_train_data(config.data, config.model.vocab_size, std::move(tokenizer),
                                   static_cast<uint64_t>(tc.seed));
  if (data.tokenizer) {
    if (!model) config.model.vocab_size = data.tokenizer->vocab_size();
    MOE_CHECK(data.tokenizer->vocab_size() <= config.model.vocab_size, "tokenizer has ",
              data.tokenizer->vocab_size(), " tokens but model.vocab_size is ",
              config.model.vocab_size);
  }
  if (!model) {
    model = std::make_unique<Model>(config.model);
    model->init_parameters(rng_key(static_cast<uint64_t>(tc.seed), rng_stream::kInit));
  }
  const int64_t batch = tc.batch_size, seq = config.model.block_size;
  model->allocate(batch, seq);
  BatchSampler train_sampler(data.train, batch, seq);
  BatchSampler val_sampler(data.val, batch, seq);

  Arena arena;
  Tensor tokens = arena.alloc(Shape{batch, seq}, DType::I32);
  Tensor targets = arena.alloc(Shape{batch, seq}, DType::I32);
  AdamW optimizer(model->params(), tc);
  TrainState state;
  state.adam_m = optimizer.m();
  state.adam_v = optimizer.v();
  if (options.resume) load_train_state(resume_dir, *model, state);
  MOE_CHECK(!options.resume || state.step < tc.steps, "the run in ", options.out_dir,
            " has already done ", state.step, " steps; ask for more with --steps N (N > ",
            state.step, ")");

  make_dirs(options.out_dir);
  const std::string metrics_path = options.out_dir + "/metrics.jsonl";
  if (options.resume) truncate_metrics(metrics_path, state.step);
  MetricsLog metrics(metrics_path, options.resume);

  TrainResult result;
  result.params = model->param_count();
  result.active_params = model->active_param_count();
  result.flops_per_token = model->flops_per_token();
  if (!options.resume) {
    metrics.write({{"type", "start"},
                   {"params", result.params},
                   {"active_params", result.active_params},
                   {"flops_per_token", result.flops_per_token},
                   {"blas", blas_kernels()},
                   {"data", data.description},
                   {"train_tokens", data.train.size},
                   {"val_tokens", data.val.size},
                   {"config", config.to_json()}});
  }
  if (!options.quiet) {
    std::printf("moe train: %s, %.2f M parameters (%.2f M active per token), data %s\n",
                config.model.arch.c_str(), result.params / 1e6, result.active_params / 1e6,
                data.description.c_str());
    std::printf("moe train: steps %lld -> %lld, batch %lld x %lld tokens, grad_accum %lld\n",
                static_cast<long long>(state.step), static_cast<long long>(tc.steps),
                static_cast<long long>(batch), static_cast<long long>(seq),
                static_cast<long long>(tc.grad_accum));
    std::fflush(stdout);
  }

  const uint64_t seed = static_cast<uint64_t>(tc.seed);
  Evaluator evaluator(*model, tokens, targets);
  Progress progress(tc.steps, state.step, tc.log_every);
  double train_seconds = 0.0;
  int64_t trained_tokens = 0;
  const int64_t first_step = state.step;
  bool have_eval = false;

  auto run_eval = [&](int64_t step) {
    const float tau = config.model.temperature_at(step, tc.steps);
    EvalResult tr = evaluator.random_windows(train_sampler, tc.eval_iters,
                                             rng_key(seed, rng_stream::kEvalTrain), tau);
    EvalResult va = evaluator.random_windows(val_sampler, tc.eval_iters,
                                             rng_key(seed, rng_stream::kEvalVal), tau);
    result.train_loss = tr.loss;
    result.val_loss = va.loss;
    have_eval = true;
    metrics.write({{"type", "eval"},
                   {"step", step},
                   {"train_loss", tr.loss},
                   {"val_loss", va.loss},
                   {"train_ppl", std::exp(tr.loss)},
                   {"val_ppl", std::exp(va.loss)},
                   {"moe", routing_json(va, config.model.n_experts)}});
    refresh_run_report(options.out_dir);  // a failure is a warning, never a stop
    if (state.best_val_step < 0 || va.loss < state.best_val_loss) {
      state.best_val_loss = static_cast<float>(va.loss);
      state.best_val_step = step;
      state.evals_since_best = 0;
    } else {
      ++state.evals_since_best;
    }
    if (!options.quiet) {
      char line[256];
      std::snprintf(line, sizeof line, "step %lld: train loss %.4f, val loss %.4f (ppl %.2f)",
                    static_cast<long long>(step), tr.loss, va.loss, std::exp(va.loss));
      progress.message(line);
    }
  };

  auto checkpoint = [&]() {
    save_checkpoint(options.out_dir, config, *model, data.tokenizer.get(), state.step,
                    [&](const std::string& dir) { save_train_state(dir, config, state); });
  };

  ForwardContext ctx;
  ctx.training = true;
  ctx.batch = batch;
  ctx.seq = seq;
  ctx.loss_scale = 1.0f / static_cast<float>(tc.grad_accum);
  while (state.step < tc.steps) {
    const int64_t step = state.step;  // 0-based index of this update
    const float lr = lr_at(tc, step);
    ctx.router_temperature = config.model.temperature_at(step, tc.steps);
    const auto t0 = Clock::now();
    double fwd_ms = 0.0, bwd_ms = 0.0;
    LossInfo sum;
    model->params().zero_grads();
    for (int64_t micro = 0; micro < tc.grad_accum; ++micro) {
      if (config.data.sampling == "chunks")
        train_sampler.chunks(tokens, targets, step * tc.grad_accum + micro,
                             rng_key(seed, rng_stream::kTrainChunks));
      else
        train_sampler.sample(tokens, targets, rng_key(seed, rng_stream::kTrainBatch, step, micro));
      ctx.key = rng_key(seed, rng_stream::kStep, step, micro);
      auto tf = Clock::now();
      LossInfo info = model->forward(ctx, tokens, targets);
      fwd_ms += ms_since(tf);
      MOE_CHECK(std::isfinite(info.objective), "loss is ", info.objective, " at step ", step + 1,
                " (lr ", lr, "); training stopped, the last checkpoint in ", options.out_dir,
                "/checkpoint is intact; lower train.lr or enable train.grad_clip");
      auto tb = Clock::now();
      model->backward(ctx);
      bwd_ms += ms_since(tb);
      sum.ce += info.ce / tc.grad_accum;
      sum.aux += info.aux / tc.grad_accum;
      sum.z += info.z / tc.grad_accum;
      sum.objective += info.objective / tc.grad_accum;
    }
    const auto to = Clock::now();
    const float grad_norm = clip_grad_norm(model->params(), tc.grad_clip);
    MOE_CHECK(std::isfinite(grad_norm), "gradient norm is ", grad_norm, " at step ", step + 1,
              "; training stopped, the last checkpoint in ", options.out_dir,
              "/checkpoint is intact");
    optimizer.step(lr, step + 1);
    const double opt_ms = ms_since(to);
    const double step_s = ms_since(t0) / 1000.0;
    train_seconds += step_s;
    state.elapsed_seconds += step_s;
    trained_tokens += batch * seq * tc.grad_accum;
    state.step = step + 1;
    const double tok_s = batch * seq * tc.grad_accum / std::max(step_s, 1e-9);
    metrics.write({{"type", "step"},
                   {"step", state.step},
                   {"loss", sum.ce},
                   {"objective", sum.objective},
                   {"aux_loss", sum.aux},
                   {"z_loss", sum.z},
                   {"lr", lr},
                   {"grad_norm", grad_norm},
                   {"router_temperature", ctx.router_temperature},
                   {"tokens_per_s", tok_s},
                   {"forward_ms", fwd_ms},
                   {"backward_ms", bwd_ms},
                   {"optimizer_ms", opt_ms}});
    if (!options.quiet) progress.step(state.step, sum.ce, lr, tok_s);

    const bool last = state.step == tc.steps;
    bool stop = false;
    if ((tc.eval_every > 0 && state.step % tc.eval_every == 0) || last) {
      run_eval(state.step);
      if (tc.early_stop_patience > 0 && state.evals_since_best >= tc.early_stop_patience) {
        stop = true;
        result.stopped_early = true;
        if (!options.quiet)
          progress.message("early stopping: val loss has not improved for " +
                           std::to_string(state.evals_since_best) + " evals");
      }
    }
    if ((tc.ckpt_every > 0 && state.step % tc.ckpt_every == 0) || last || stop) checkpoint();
    if (stop) break;
  }
  if (!have_eval) run_eval(state.step);
  if (state.step == first_step) checkpoint();
  if (!options.quiet) progress.finish();

  result.steps = state.step;
  result.tokens_per_s = train_seconds > 0 ? trained_tokens / train_seconds : 0.0;
  result.best_val_loss = state.best_val_loss;
  result.seconds = std::chrono::duration<double>(Clock::now() - wall_start).count();
  return result;
}

}  // namespace moe
