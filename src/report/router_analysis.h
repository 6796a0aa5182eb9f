// The router analysis of one MoE run for report.html, from its metrics.jsonl: per MoE layer the
// share of the training assignments each expert received over the steps (the step records'
// expert_load, every train.log_every steps), the load imbalance max/mean of those shares per
// layer, and each expert's most frequent tokens over the last evaluation's val batches.
#pragma once
#include <string>

#include "report/run_log.h"

namespace moe {

// HTML (inline SVG charts and tables); `id_suffix` makes the element ids unique on the page. A log
// without the records (written before they existed, or before the first log interval) gives a
// note instead of each part.
std::string router_analysis_html(const RunLog& log, const std::string& id_suffix);

// The load imbalance of shares: max / mean; NaN when they are empty or all zero.
double load_imbalance(const std::vector<double>& shares);

}  // namespace moe
