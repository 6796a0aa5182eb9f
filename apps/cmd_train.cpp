// moe train (--config FILE | --preset NAME) [--set key=value ...] [--data DIR] [--steps N]
//           [--eval-every N] [--ckpt-every N] [--seed S] [--threads T] [--device D]
//           [--init-from CKPT] [--overwrite] --out DIR
// moe train --resume DIR [--steps N] [--device D] [--set dist.key=value ...]
#include <cstdio>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/check.h"
#include "core/threads.h"
#include "dist/communicator.h"
#include "model/checkpoint.h"
#include "train/stop_signal.h"
#include "train/trainer.h"

namespace {

struct TrainFlags {
  std::string config_file, preset, out_dir, resume_dir, data_dir, init_from;
  std::vector<std::string> sets;
  std::optional<int64_t> steps, eval_every, ckpt_every, seed, threads;
  std::optional<std::string> device;
  bool quiet = false, overwrite = false;
};

void run_train(const TrainFlags& f) {
  moe::RunConfig config;
  moe::TrainOptions options;
  if (!f.resume_dir.empty()) {
    MOE_CHECK(
        f.config_file.empty() && f.preset.empty() && f.data_dir.empty(),
        "--resume continues a run with its saved configuration; drop --config/--preset/--data");
    // How the run is spread over processes may change; what it computes may not.
    for (const std::string& kv : f.sets)
      MOE_CHECK(kv.rfind("dist.", 0) == 0,
                "--resume continues a run with its saved "
                "configuration; --set may change only dist.* settings, not '",
                kv, "'");
    options.dist_settings = f.sets;
    MOE_CHECK(f.init_from.empty(),
              "--resume continues a run from its own checkpoint; drop --init-from (a run started "
              "with --init-from resumes with --resume alone)");
    MOE_CHECK(f.out_dir.empty() || f.out_dir == f.resume_dir,
              "--resume DIR writes into DIR; drop --out");
    options.out_dir = f.resume_dir;
    options.resume = true;
  } else {
    MOE_CHECK(f.config_file.empty() != f.preset.empty(),
              "give exactly one of --config FILE or --preset NAME");
    MOE_CHECK(!f.out_dir.empty(), "--out DIR is required");
    // A fresh run would replace the checkpoint there: most likely a forgotten --resume.
    MOE_CHECK(f.overwrite || !moe::run_has_checkpoint(f.out_dir), f.out_dir,
              " already holds a checkpoint; continue it with --resume ", f.out_dir,
              " or pass --overwrite to start a new run there");
    config = f.preset.empty() ? moe::RunConfig{} : moe::RunConfig::preset(f.preset);
    if (!f.config_file.empty()) config.load_toml(f.config_file);
    for (const std::string& kv : f.sets)
      config.set_assignment(kv);
    if (!f.data_dir.empty()) {
      config.data.source = "prepared";
      config.data.dir = f.data_dir;
    }
    if (f.eval_every) config.train.eval_every = *f.eval_every;
    if (f.ckpt_every) config.train.ckpt_every = *f.ckpt_every;
    if (f.seed) config.train.seed = *f.seed;
    if (f.threads) config.train.threads = *f.threads;
    if (!f.init_from.empty()) config.train.init_from = f.init_from;
    options.out_dir = f.out_dir;
  }
  options.steps = f.steps;
  options.device = f.device;
  options.quiet = f.quiet;
  moe::set_num_threads(static_cast<int>(f.threads.value_or(config.train.threads)));
  const bool leader = moe::world().rank() == 0;  // the others print nothing but errors
  const moe::StopOnSignals stop_on_signals(leader);
  moe::TrainResult r = moe::train(config, options);
  nlohmann::json summary = {{"params", r.params},
                            {"active_params", r.active_params},
                            {"flops_per_token", r.flops_per_token},
                            {"steps", r.steps},
                            {"tokens_per_s", r.tokens_per_s},
                            {"train_loss", r.train_loss},
                            {"val_loss", r.val_loss},
                            {"best_val_loss", r.best_val_loss},
                            {"stopped_early", r.stopped_early},
                            {"seconds", r.seconds},
                            {"out", options.out_dir}};
  if (r.stop_signal) summary["stopped_by"] = moe::signal_name(r.stop_signal);
  if (leader) std::cout << summary.dump() << std::endl;
  if (r.stop_signal) {
    if (leader)
      std::cerr << "moe train: stopped by " << moe::signal_name(r.stop_signal) << " after step "
                << r.steps << "; checkpoint saved in " << options.out_dir
                << "/checkpoint; continue with: moe train --resume " << options.out_dir << "\n";
    throw ExitStatus{128 + r.stop_signal};
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand("train", "train a model (or resume a run)");
  cmd->add_option("--config", flags->config_file, "TOML configuration file")
      ->check(CLI::ExistingFile);
  cmd->add_option("--preset", flags->preset,
                  "named configuration: makemoe, llama-moe-tiny, wikitext-moe");
  cmd->add_option("--set", flags->sets, "override a setting: key=value (e.g. model.n_layers=4)");
  cmd->add_option("--steps", flags->steps, "total optimizer steps of the run")
      ->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--eval-every", flags->eval_every, "evaluate every N steps (0: only at the end)")
      ->transform(integer_in(0, INT64_MAX));
  cmd->add_option("--ckpt-every", flags->ckpt_every,
                  "checkpoint every N steps (0: only at the end)")
      ->transform(integer_in(0, INT64_MAX));
  cmd->add_option("--seed", flags->seed, "random seed")
      ->transform(integer_in(INT64_MIN, INT64_MAX));
  cmd->add_option("--threads", flags->threads, "CPU threads (0: all cores)")
      ->transform(thread_count());
  cmd->add_option("--device", flags->device,
                  "where the model runs: cpu or cuda (train.device; on --resume, the run moves)")
      ->check(device_choice());
  cmd->add_option("--out", flags->out_dir, "run directory (checkpoint, metrics.jsonl)")
      ->check(non_empty());
  cmd->add_option("--resume", flags->resume_dir, "continue the run in this directory")
      ->check(non_empty());
  cmd->add_option("--init-from", flags->init_from,
                  "start from this checkpoint's weights (run or checkpoint directory) with a fresh "
                  "optimizer at step 0 (train.init_from)")
      ->check(non_empty());
  cmd->add_option("--data", flags->data_dir,
                  "train on a directory written by moe prepare (data.source = prepared)")
      ->check(non_empty());
  cmd->add_flag("--quiet", flags->quiet, "no progress output");
  cmd->add_flag("--overwrite", flags->overwrite,
                "start a new run even if --out already holds a checkpoint");
  cmd->callback([flags] { run_train(*flags); });
}
