// Self-contained HTML reports (inline CSS and SVG; no scripts, no external resources) for one
// training run (`moe report`, refreshed by `moe train`) and for a comparison of runs
// (`moe compare`).
#pragma once
#include <string>
#include <vector>

#include "report/run_log.h"
#include "report/summary_table.h"

namespace moe {

// One run: configuration and parameter counts, the summary row, train/val loss, per-layer expert
// usage (heat map) and routing entropy against ln(E), aux loss, tokens/s. A dense run gets a
// note in place of the MoE charts.
std::string run_report_html(const RunLog& log);

// Several runs: the summary table (`rows`, failed runs included), train/val loss of every run on
// one chart, usage heat map and routing entropy of each MoE run, aux loss, tokens/s. `runs` are
// the logs of the runs that have one.
std::string compare_report_html(const std::vector<RunLog>& runs,
                                const std::vector<RunSummary>& rows);

}  // namespace moe
