#include "compare/compare.h"

#include <cstdio>
#include <filesystem>

#include "core/check.h"
#include "core/fs.h"
#include "dist/communicator.h"
#include "report/report_html.h"
#include "report/run_log.h"
#include "train/stop_signal.h"
#include "train/trainer.h"

namespace moe {

namespace {

// A setting's value as JSON text, for comparing and for messages.
std::string setting(const RunConfig& c, const std::string& key) {
  const auto dot = key.find('.');
  return c.to_json()[key.substr(0, dot)][key.substr(dot + 1)].dump();
}

// `processes`: the data-parallel ranks of the job, each running train.grad_accum micro-batches of
// every step (train/data_parallel.h), so a step takes grad_accum x processes micro-batches.
std::string markdown_header(const RunConfig& c, size_t n_runs, int processes) {
  const TrainConfig& t = c.train;
  const int64_t micro_batches = t.grad_accum * processes;
  const int64_t tokens = t.steps * t.batch_size * c.model.block_size * micro_batches;
  const std::string accumulation = processes == 1
                                       ? str_cat("grad_accum ", t.grad_accum)
                                       : str_cat("grad_accum ", t.grad_accum, " on each of ",
                                                 processes, " data-parallel processes");
  return str_cat(
      "# Dense vs MoE comparison\n\n", n_runs, " configurations, each trained for ", t.steps,
      " steps of ", t.batch_size, " x ", c.model.block_size, " tokens (", accumulation,
      "): ", tokens, " training tokens, seed ", t.seed, ", data ", c.data.source,
      c.data.path.empty() ? "" : " " + c.data.path, c.data.dir.empty() ? "" : " " + c.data.dir,
      ", on ", t.device, ", eval every ", t.eval_every, " steps over ", t.eval_iters,
      " batches.\n\nforward / backward / optimizer columns are seconds per ", kStepsPerRow,
      " optimizer steps; total s is the sum of the step times; mean tokens/s is "
      "training tokens over training time (evaluation excluded).\n\n");
}

}  // namespace

const std::vector<std::string>& shared_budget_keys() {
  static const std::vector<std::string> keys = {
      "train.steps",   "train.batch_size",    "model.block_size",      "train.grad_accum",
      "train.seed",    "train.eval_every",    "train.eval_iters",      "data.source",
      "data.path",     "data.train_fraction", "data.synthetic_tokens", "data.dir",
      "data.sampling", "train.device"};
  return keys;
}

std::vector<std::pair<std::string, RunConfig>> load_compare_configs(const CompareOptions& options) {
  MOE_CHECK(!options.config_files.empty(), "compare needs at least one --configs FILE");
  std::vector<std::pair<std::string, RunConfig>> configs;
  for (const std::string& file : options.config_files) {
    MOE_CHECK(std::filesystem::is_regular_file(file), "config file ", file, " does not exist");
    const std::string name = std::filesystem::path(file).stem().string();
    for (const auto& [other, _] : configs)
      MOE_CHECK(other != name, "two configurations are named '", name,
                "' (runs are named by file name); rename one");
    RunConfig c;
    c.load_toml(file);
    for (const std::string& kv : options.sets)
      c.set_assignment(kv);
    if (options.steps) c.train.steps = *options.steps;
    if (options.device) c.train.device = *options.device;
    c.validate();
    configs.emplace_back(name, c);
  }
  const auto& [first_name, first] = configs.front();
  for (const auto& [name, c] : configs) {
    for (const std::string& key : shared_budget_keys()) {
      MOE_CHECK(setting(c, key) == setting(first, key), "configuration ", name, " has ", key, " = ",
                setting(c, key), " but ", first_name, " has ", setting(first, key),
                "; compared runs must share data, seed, token budget and device (set it in every "
                "file, or for all with --set/--steps/--device)");
    }
  }
  return configs;
}

CompareResult compare_runs(const CompareOptions& options) {
  MOE_CHECK(!options.out_dir.empty(), "--out DIR is required");
  const auto configs = load_compare_configs(options);
  training_device(configs.front().second);  // shared by all: refused before anything is written
  // Started by an MPI launcher, every process trains every configuration as one rank of a
  // data-parallel run (train/data_parallel.h); rank 0 alone prints and writes, as in moe train.
  const int processes = world().size();
  const bool leader = world().rank() == 0;
  if (leader) make_dirs(options.out_dir);
  CompareResult result;
  std::vector<RunLog> logs;
  for (size_t i = 0; i < configs.size(); ++i) {
    const auto& [name, config] = configs[i];
    const std::string run_dir = options.out_dir + "/" + name;
    if (result.stop_signal) {
      ++result.failures;
      result.rows.push_back(failed_run(name, str_cat("not run: the comparison was stopped by ",
                                                     signal_name(result.stop_signal))));
      continue;
    }
    if (leader) {
      std::printf("compare: [%zu/%zu] %s -> %s\n", i + 1, configs.size(), name.c_str(),
                  run_dir.c_str());
      std::fflush(stdout);
    }
    try {
      TrainOptions train_options;
      train_options.out_dir = run_dir;
      train_options.quiet = options.quiet;
      const TrainResult trained = train(config, train_options);
      if (trained.stop_signal) {  // the same on every rank (the ranks agree on a stop)
        result.stop_signal = trained.stop_signal;
        result.stopped_run_dir = run_dir;
        ++result.failures;
        result.rows.push_back(failed_run(
            name, str_cat("stopped by ", signal_name(trained.stop_signal), " after step ",
                          trained.steps, "; continue with moe train --resume ", run_dir)));
        continue;
      }
      if (!leader) {  // rank 0 wrote the run's log; the other ranks keep only the name
        result.rows.emplace_back().name = name;
        continue;
      }
      RunLog log = read_run_log(run_dir);
      RunSummary row = summarize(log);
      logs.push_back(std::move(log));
      result.rows.push_back(std::move(row));
    } catch (const std::exception& e) {
      // A rank whose run failed cannot tell whether the others fail too or wait for it in a
      // collective, which would hang; ending the job (apps/main.cpp) is the one safe way on.
      if (processes > 1)
        fail("configuration ", name, " failed: ", e.what(), "; on several processes a failing ",
             "configuration ends the comparison (the runs before it are in ", options.out_dir, ")");
      ++result.failures;
      result.rows.push_back(failed_run(name, e.what()));
      // On stdout with the progress: the caller reports the failures once, as its error.
      std::printf("compare: %s failed: %s\n", name.c_str(), e.what());
      std::fflush(stdout);
    }
  }
  if (!leader) return result;
  result.summary_markdown = markdown_header(configs.front().second, configs.size(), processes) +
                            summary_markdown(result.rows);
  write_file_atomic(options.out_dir + "/summary.md", result.summary_markdown);
  write_file_atomic(options.out_dir + "/summary.csv", summary_csv(result.rows));
  write_file_atomic(options.out_dir + "/report.html", compare_report_html(logs, result.rows));
  return result;
}

}  // namespace moe
