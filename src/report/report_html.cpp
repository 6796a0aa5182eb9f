#include "report/report_html.h"

#include <algorithm>
#include <cstdio>

#include "report/router_analysis.h"
#include "report/svg_chart.h"
#include "report/xml_escape.h"

namespace moe {

namespace {

// Per-step series longer than this are averaged over bins of consecutive steps, which keeps the
// page small for long runs and smooths the per-step noise.
constexpr size_t kMaxStepPoints = 200;

// A run and the colour it has on every chart of the page.
struct ColoredRun {
  const RunLog* log;
  std::string color;
};

const char kStyle[] = R"(<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.failed td { color: #b2182b; }
dl.config { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 0.9em; }
dl.config dt { font-weight: 600; } dl.config dd { margin: 0; font-family: monospace; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 8px 0; font-size: 12px; }
svg .chart-title { font-size: 14px; font-weight: 600; }
svg .axis line { stroke: #444; } svg .grid line { stroke: #e5e5e5; }
svg .axis-label { font-size: 12px; fill: #333; } svg .cell-value { font-size: 11px; }
p.note { color: #555; font-style: italic; }
p.warning { color: #8a1c00; font-weight: 600; }
table.top-tokens { margin: 8px 0; } table.top-tokens caption { text-align: left; font-weight: 600; }
table.top-tokens td.tokens { text-align: left; }
code.tok { white-space: pre; background: #eef; padding: 0 2px; }
</style>
)";

std::string page_start(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
         escape_xml(title) + "</title>\n" + kStyle + "</head>\n<body>\n<h1>" + escape_xml(title) +
         "</h1>\n";
}

std::string note(const std::string& text, const std::string& css_class = "note") {
  return "<p class=\"" + css_class + "\">" + escape_xml(text) + "</p>\n";
}

std::string section(const std::string& heading) {
  return "<h2>" + escape_xml(heading) + "</h2>\n";
}

// A configuration value as text ("0.001", "gpt"); "" when the key is absent.
std::string config_value(const RunLog& log, const char* section_name, const char* key) {
  auto s = log.config.find(section_name);
  if (s == log.config.end() || !s->contains(key)) return "";
  const nlohmann::json& v = (*s)[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {  // settings are fp32: 0.1f prints as 0.1, not 0.100000001490116
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.7g", v.get<double>());
    return buf;
  }
  return v.dump();
}

std::string config_summary_html(const RunLog& log) {
  struct Item {
    const char* label;
    std::string value;
  };
  std::vector<Item> items = {
      {"parameters", std::to_string(log.params) + " total, " + std::to_string(log.active_params) +
                         " active per token"},
      {"architecture", config_value(log, "model", "arch")},
      {"layers x width", config_value(log, "model", "n_layers") + " x " +
                             config_value(log, "model", "n_embed") + ", " +
                             config_value(log, "model", "n_heads") + " heads, FFN " +
                             config_value(log, "model", "ffn_hidden")},
  };
  if (log.is_moe())
    items.push_back({"experts", config_value(log, "model", "n_experts") + " experts, top-" +
                                    config_value(log, "model", "top_k") + ", router " +
                                    config_value(log, "model", "router") + ", MoE layers " +
                                    config_value(log, "model", "moe_layers") + ", aux coef " +
                                    config_value(log, "model", "aux_loss_coef")});
  items.push_back({"dropout", config_value(log, "model", "dropout")});
  items.push_back({"batch", config_value(log, "train", "batch_size") + " x " +
                                config_value(log, "model", "block_size") + " tokens, grad_accum " +
                                config_value(log, "train", "grad_accum")});
  items.push_back({"schedule", config_value(log, "train", "steps") + " steps, lr " +
                                   config_value(log, "train", "lr") + " (" +
                                   config_value(log, "train", "lr_schedule") + "), seed " +
                                   config_value(log, "train", "seed")});
  items.push_back({"data", log.data});
  std::string o = "<dl class=\"config\" id=\"config-" + escape_xml(log.name) + "\">\n";
  for (const Item& it : items)
    o += "<dt>" + escape_xml(it.label) + "</dt><dd>" + escape_xml(it.value) + "</dd>\n";
  o += "</dl>\n";
  if (!log.non_causal_reason.empty()) o += note("Not causal: " + log.non_causal_reason, "warning");
  return o;
}

// How a bin of per-step values becomes one point.
enum class BinMean {
  kArithmetic,
  kHarmonic  // for rates: every step has the same tokens, so this is tokens over time in the bin
};

// Per-step values averaged over bins of ceil(n / kMaxStepPoints) steps, at each bin's last step.
LineSeries binned_step_series(const RunLog& log, double StepRecord::*field, BinMean mean) {
  LineSeries s;
  const size_t n = log.steps.size();
  const size_t bin = std::max<size_t>(1, (n + kMaxStepPoints - 1) / kMaxStepPoints);
  for (size_t begin = 0; begin < n; begin += bin) {
    const size_t end = std::min(n, begin + bin);
    double sum = 0;
    for (size_t i = begin; i < end; ++i)
      sum += mean == BinMean::kHarmonic ? 1.0 / log.steps[i].*field : log.steps[i].*field;
    const double count = static_cast<double>(end - begin);
    s.x.push_back(static_cast<double>(log.steps[end - 1].step));
    s.y.push_back(mean == BinMean::kHarmonic ? count / sum : sum / count);
  }
  return s;
}

std::string loss_chart(const std::vector<ColoredRun>& runs) {
  LineChart c;
  c.id = "chart-loss";
  c.title = "Loss (mean over eval batches): val solid, train dashed";
  c.x_label = "step";
  c.y_label = "cross-entropy (nats)";
  for (const ColoredRun& r : runs) {
    LineSeries val, tr;
    for (const EvalRecord& e : r.log->evals) {
      val.x.push_back(static_cast<double>(e.step));
      val.y.push_back(e.val_loss);
      tr.x.push_back(static_cast<double>(e.step));
      tr.y.push_back(e.train_loss);
    }
    val.label = r.log->name + " val";
    tr.label = r.log->name + " train";
    val.color = tr.color = r.color;
    tr.dashed = true;
    c.series.push_back(std::move(val));
    c.series.push_back(std::move(tr));
  }
  return render_line_chart(c);
}

std::string step_chart(const std::vector<ColoredRun>& runs, const std::string& id,
                       const std::string& title, const std::string& y_label,
                       double StepRecord::*field, BinMean mean) {
  LineChart c;
  c.id = id;
  c.title = title;
  c.x_label = "step";
  c.y_label = y_label;
  for (const ColoredRun& r : runs) {
    LineSeries s = binned_step_series(*r.log, field, mean);
    s.label = r.log->name;
    s.color = r.color;
    c.series.push_back(std::move(s));
  }
  return render_line_chart(c);
}

std::string usage_heat_map(const RunLog& log, const std::string& id) {
  const EvalRecord& last = log.evals.back();
  HeatMap h;
  h.id = id;
  h.title = log.name + ": expert usage per layer at step " + std::to_string(last.step) +
            " (% of assignments, val batches)";
  size_t n_experts = 0;
  for (const LayerRoutingRecord& l : last.moe) {
    h.row_labels.push_back("layer " + std::to_string(l.layer));
    h.values.push_back(l.expert_usage);
    n_experts = std::max(n_experts, l.expert_usage.size());
  }
  for (size_t e = 0; e < n_experts; ++e)
    h.col_labels.push_back("E" + std::to_string(e));
  h.center = 1.0 / static_cast<double>(n_experts);
  h.center_label = "= uniform 1/" + std::to_string(n_experts);
  return render_heat_map(h);
}

std::string entropy_chart(const RunLog& log, const std::string& id) {
  LineChart c;
  c.id = id;
  c.title = log.name + ": routing entropy per MoE layer";
  c.x_label = "step";
  c.y_label = "entropy (nats)";
  const EvalRecord& last = log.evals.back();
  for (size_t i = 0; i < last.moe.size(); ++i) {
    LineSeries s;
    s.label = "layer " + std::to_string(last.moe[i].layer);
    s.color = series_color(i);
    for (const EvalRecord& e : log.evals) {
      for (const LayerRoutingRecord& l : e.moe) {
        if (l.layer != last.moe[i].layer) continue;
        s.x.push_back(static_cast<double>(e.step));
        s.y.push_back(l.entropy);
      }
    }
    c.series.push_back(std::move(s));
  }
  const size_t n_experts = last.moe.front().expert_usage.size();
  char label[64];
  std::snprintf(label, sizeof label, "max ln(%zu) = %.3f", n_experts, last.moe.front().max_entropy);
  c.references.push_back({last.moe.front().max_entropy, label});
  return render_line_chart(c);
}

// Heat map, entropy chart and router analysis of one MoE run; index makes the element ids unique
// on the page.
std::string routing_charts(const RunLog& log, size_t index) {
  const std::string suffix = std::to_string(index);
  return usage_heat_map(log, "heatmap-usage-" + suffix) +
         entropy_chart(log, "chart-entropy-" + suffix) + router_analysis_html(log, suffix);
}

std::vector<ColoredRun> colored(const std::vector<RunLog>& runs) {
  std::vector<ColoredRun> out;
  for (size_t i = 0; i < runs.size(); ++i)
    out.push_back({&runs[i], series_color(i)});
  return out;
}

// The MoE charts of a page, or a note when no run has MoE layers with an eval yet.
std::string routing_sections(const std::vector<ColoredRun>& runs) {
  std::string o = section("Routing");
  std::vector<ColoredRun> moe_runs;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].log->is_moe()) {
      moe_runs.push_back(runs[i]);
      o += routing_charts(*runs[i].log, i);
    } else {
      o += note(runs[i].log->name + (runs[i].log->evals.empty()
                                         ? ": no evaluation yet, so no routing statistics."
                                         : ": dense model (no MoE layers), no routing charts."));
    }
  }
  o += section("Load-balancing loss");
  if (moe_runs.empty()) return o + note("No MoE run: no load-balancing loss.");
  o += step_chart(moe_runs, "chart-aux",
                  "Auxiliary load-balancing loss (sum over MoE layers, before its coefficient)",
                  "aux loss", &StepRecord::aux_loss, BinMean::kArithmetic);
  // The sequence-wise loss (model.seq_aux_loss_coef > 0) gets its own chart when a run logs it.
  const bool any_seq_aux = std::ranges::any_of(moe_runs, [](const ColoredRun& r) {
    return std::ranges::any_of(r.log->steps,
                               [](const StepRecord& s) { return s.seq_aux_loss != 0.0; });
  });
  if (!any_seq_aux) return o;
  return o + step_chart(moe_runs, "chart-seq-aux",
                        "Sequence-wise load-balancing loss (sum over MoE layers, before its "
                        "coefficient)",
                        "seq aux loss", &StepRecord::seq_aux_loss, BinMean::kArithmetic);
}

std::string throughput_section(const std::vector<ColoredRun>& runs) {
  return section("Throughput") +
         step_chart(runs, "chart-throughput", "Training throughput (evaluation time excluded)",
                    "tokens / s", &StepRecord::tokens_per_s, BinMean::kHarmonic);
}

// How the table's figures are measured, and which logs were cut short by a killed run.
std::string table_notes(const std::vector<const RunLog*>& logs) {
  std::string o = note("Time columns are seconds per " + std::to_string(kStepsPerRow) +
                       " optimizer steps (mean step time x " + std::to_string(kStepsPerRow) +
                       "); total s is the sum of the step times; mean tokens/s is training "
                       "tokens over training time. Evaluation time is excluded.");
  for (const RunLog* log : logs)
    if (log->torn_last_line)
      o += note(log->name +
                ": the last line of metrics.jsonl is incomplete (the run was "
                "interrupted while writing it) and was skipped.");
  return o;
}

}  // namespace

std::string run_report_html(const RunLog& log) {
  const std::vector<ColoredRun> runs = {{&log, series_color(0)}};
  std::string o = page_start("moe.cpp run report: " + log.name);
  o += config_summary_html(log);
  o += section("Summary") + summary_html({summarize(log)}) + table_notes({&log});
  o += section("Loss") + loss_chart(runs);
  o += routing_sections(runs);
  o += throughput_section(runs);
  return o + "</body>\n</html>\n";
}

std::string compare_report_html(const std::vector<RunLog>& logs,
                                const std::vector<RunSummary>& rows) {
  const std::vector<ColoredRun> runs = colored(logs);
  std::string o = page_start("moe.cpp comparison: " + std::to_string(rows.size()) + " runs");
  o += section("Summary") + summary_html(rows);
  std::vector<const RunLog*> log_ptrs;
  for (const RunLog& l : logs)
    log_ptrs.push_back(&l);
  o += table_notes(log_ptrs);
  for (const RunSummary& r : rows)
    if (!r.error.empty()) o += note(r.name + " failed: " + r.error, "note failed");
  o += section("Configurations");
  for (const RunLog& l : logs)
    o += "<h3>" + escape_xml(l.name) + "</h3>\n" + config_summary_html(l);
  o += section("Loss") + loss_chart(runs);
  o += routing_sections(runs);
  o += throughput_section(runs);
  return o + "</body>\n</html>\n";
}

}  // namespace moe
