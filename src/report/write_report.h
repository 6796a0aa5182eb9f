// Writing a run's report.html next to its metrics.jsonl.
#pragma once
#include <string>

namespace moe {

// Renders the run in `run_dir` and replaces `out_path` (empty: RUN_DIR/report.html) atomically,
// so a browser never sees a half-written page. Returns the path written.
std::string write_run_report(const std::string& run_dir, const std::string& out_path = "");

// The training loop's refresh: as write_run_report, but a failure is a one-line warning on
// stderr and never stops training.
void refresh_run_report(const std::string& run_dir) noexcept;

}  // namespace moe
