// moe compare --configs A.toml B.toml ... [--set key=value ...] [--steps N] [--threads T]
//             [--device D] --out DIR
// Trains each configuration into DIR/<name>/ on the same data, seed, token budget and device and
// writes DIR/summary.md, DIR/summary.csv and DIR/report.html.
#include <iostream>
#include <optional>

#include "apps/commands.h"
#include "apps/flags.h"
#include "compare/compare.h"
#include "core/check.h"
#include "core/threads.h"
#include "dist/communicator.h"
#include "train/stop_signal.h"

namespace {

struct CompareFlags {
  moe::CompareOptions options;
  std::optional<int64_t> steps, threads;
};

void run_compare(CompareFlags& f) {
  f.options.steps = f.steps;
  if (f.threads) moe::set_num_threads(static_cast<int>(*f.threads));
  const bool leader = moe::world().rank() == 0;  // the others print nothing but errors
  const moe::StopOnSignals stop_on_signals(leader);
  const moe::CompareResult r = moe::compare_runs(f.options);
  if (leader)
    std::cout << "\n"
              << r.summary_markdown << "\nwritten: " << f.options.out_dir << "/summary.md, "
              << f.options.out_dir << "/summary.csv, " << f.options.out_dir << "/report.html\n";
  if (r.stop_signal) {
    std::cout << std::flush;
    if (leader)
      std::cerr << "moe compare: stopped by " << moe::signal_name(r.stop_signal)
                << "; the run it stopped has a checkpoint in " << r.stopped_run_dir
                << " (continue it with: moe train --resume " << r.stopped_run_dir
                << "); the configurations after it were not run\n";
    throw ExitStatus{128 + r.stop_signal};
  }
  if (r.failures > 0) {
    std::string failed;
    for (const moe::RunSummary& row : r.rows)
      if (!row.error.empty()) failed += (failed.empty() ? "" : "; ") + row.name + ": " + row.error;
    moe::fail(r.failures, " of ", r.rows.size(), " configurations failed (", failed,
              "); the results of the others are in ", f.options.out_dir);
  }
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto flags = std::make_shared<CompareFlags>();
  CLI::App* cmd =
      app.add_subcommand("compare", "train several configurations alike and compare them");
  cmd->add_option("--configs", flags->options.config_files, "TOML configuration files")->required();
  cmd->add_option("--set", flags->options.sets, "override a setting in every configuration");
  cmd->add_option("--steps", flags->steps, "total optimizer steps of every run")
      ->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--threads", flags->threads, "CPU threads (0: all cores)")
      ->transform(thread_count());
  cmd->add_option("--device", flags->options.device, "where every run trains: cpu or cuda")
      ->check(device_choice());
  cmd->add_option("--out", flags->options.out_dir, "output directory")->required();
  cmd->add_flag("--quiet", flags->options.quiet, "no training progress output");
  cmd->callback([flags] { run_compare(*flags); });
}
