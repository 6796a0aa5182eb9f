// Dense-vs-MoE comparison: trains several configurations on identical data, data order, seed and
// token budget (each into OUT/<config name>/ through the library's train()), then writes
// OUT/summary.md, OUT/summary.csv and OUT/report.html.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "report/summary_table.h"

namespace moe {

struct CompareOptions {
  std::vector<std::string> config_files;  // TOML files; a run is named by its file's stem
  std::vector<std::string> sets;          // "key=value" applied to every configuration
  std::optional<int64_t> steps;           // train.steps of every configuration
  std::optional<std::string> device;      // train.device of every configuration
  std::string out_dir;
  bool quiet = false;  // no progress output
};

struct CompareResult {
  std::vector<RunSummary> rows;  // one per configuration, in the order given
  int64_t failures = 0;          // failed, stopped or not run
  std::string summary_markdown;  // what summary.md holds
  // A signal that stopped the comparison (train/stop_signal.h), or 0: the run it stopped has a
  // checkpoint in stopped_run_dir, and the configurations after it were not run.
  int stop_signal = 0;
  std::string stopped_run_dir;
};

// The settings every configuration of a comparison must share, so that the runs see the same
// batches in the same order and the same number of training tokens, and are evaluated alike.
const std::vector<std::string>& shared_budget_keys();

// Loads every configuration (with `sets` and `steps` applied) and checks that they share
// shared_budget_keys(); a missing or invalid file, a repeated name or a differing budget throws
// before anything is trained.
std::vector<std::pair<std::string, RunConfig>> load_compare_configs(const CompareOptions& options);

// Trains every configuration in turn. A configuration whose training fails is reported in its
// row (and on stderr) and the others still run; the outputs cover every configuration. A stop
// asked for by a signal ends the current run after its step and checkpoint and runs no more.
// In a job of several processes (mpirun) every configuration trains data-parallel over all of
// them; rank 0 alone prints and writes, the other ranks' rows hold only names and errors, and a
// configuration that fails throws instead (the job then ends: a process cannot know whether the
// others wait for it).
CompareResult compare_runs(const CompareOptions& options);

}  // namespace moe
