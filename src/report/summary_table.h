// The dense-vs-MoE comparison table (the row set of the router-training tutorial): per run,
// parameters, best val loss, mean tokens/s, forward / backward / optimizer seconds per
// kStepsPerRow steps and total training seconds, as Markdown, CSV or an HTML table.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "report/run_log.h"

namespace moe {

// The time columns are seconds per this many optimizer steps, so runs of different lengths and
// the tutorial's per-epoch figures (an epoch of its WikiText-2 split is ~1000 steps) compare.
inline constexpr int64_t kStepsPerRow = 1000;

struct RunSummary {
  std::string name;
  std::string error;  // non-empty: the run failed and only name and error are meaningful
  int64_t params = 0, active_params = 0;
  int64_t steps = 0;
  double best_val_loss = 0.0;  // NaN when the run has no eval
  int64_t best_val_step = 0;
  double final_train_loss = 0.0, final_val_loss = 0.0;  // NaN when the run has no eval
  // Tokens over training time (= the harmonic mean of the per-step rates, as every step has the
  // same tokens); evaluation time is excluded.
  double mean_tokens_per_s = 0.0;
  double forward_s = 0.0, backward_s = 0.0, optimizer_s = 0.0;  // per kStepsPerRow steps
  double train_seconds = 0.0;                                   // sum of the step times
};

RunSummary summarize(const RunLog& log);
RunSummary failed_run(const std::string& name, const std::string& error);

std::string summary_markdown(const std::vector<RunSummary>& rows);
std::string summary_csv(const std::vector<RunSummary>& rows);
// An HTML <table id="summary-table">; all text escaped.
std::string summary_html(const std::vector<RunSummary>& rows);

}  // namespace moe
