#include "report/router_analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "report/svg_chart.h"
#include "report/xml_escape.h"

namespace moe {

namespace {

// Load curves with more logged points than this are averaged over bins of consecutive points,
// as the per-step charts are, which keeps the page small for long runs.
constexpr size_t kMaxLoadPoints = 200;

// One MoE layer's logged expert shares: fractions[i] (E) at steps[i].
struct LayerLoadSeries {
  int64_t layer = 0;
  std::vector<double> steps;
  std::vector<std::vector<double>> fractions;
};

// Means over bins of ceil(n / kMaxLoadPoints) consecutive points, at each bin's last step.
void bin_points(LayerLoadSeries& s) {
  const size_t n = s.steps.size();
  const size_t bin = (n + kMaxLoadPoints - 1) / kMaxLoadPoints;
  if (bin <= 1) return;
  LayerLoadSeries out{s.layer, {}, {}};
  for (size_t begin = 0; begin < n; begin += bin) {
    const size_t end = std::min(n, begin + bin);
    std::vector<double> mean(s.fractions[begin].size(), 0.0);
    for (size_t i = begin; i < end; ++i)
      for (size_t e = 0; e < mean.size(); ++e)
        mean[e] += s.fractions[i][e] / static_cast<double>(end - begin);
    out.steps.push_back(s.steps[end - 1]);
    out.fractions.push_back(std::move(mean));
  }
  s = std::move(out);
}

// The logged loads per MoE layer, in the order the layers first appear. A record whose expert
// count differs from the layer's first is skipped (a log is input: it may be anything).
std::vector<LayerLoadSeries> load_series(const RunLog& log) {
  std::vector<LayerLoadSeries> layers;
  for (const StepRecord& s : log.steps) {
    for (const LayerLoad& l : s.expert_load) {
      auto it = std::find_if(layers.begin(), layers.end(),
                             [&](const LayerLoadSeries& x) { return x.layer == l.layer; });
      if (it == layers.end()) it = layers.insert(layers.end(), LayerLoadSeries{l.layer, {}, {}});
      if (!it->fractions.empty() && it->fractions.front().size() != l.fractions.size()) continue;
      it->steps.push_back(static_cast<double>(s.step));
      it->fractions.push_back(l.fractions);
    }
  }
  for (LayerLoadSeries& s : layers)
    bin_points(s);
  return layers;
}

std::string note(const std::string& text) {
  return "<p class=\"note\">" + escape_xml(text) + "</p>\n";
}

std::string load_chart(const LayerLoadSeries& s, const std::string& id, const std::string& run) {
  const size_t experts = s.fractions.front().size();
  LineChart c;
  c.id = id;
  c.title = run + ": expert load, layer " + std::to_string(s.layer) +
            " (share of the training step's assignments)";
  c.x_label = "step";
  c.y_label = "share of assignments";
  for (size_t e = 0; e < experts; ++e) {
    LineSeries line;
    line.label = "E" + std::to_string(e);
    line.color = series_color(e);
    line.dashed = e >= 10;  // the palette has 10 colours: later experts repeat them dashed
    line.x = s.steps;
    for (const std::vector<double>& f : s.fractions)
      line.y.push_back(f[e]);
    c.series.push_back(std::move(line));
  }
  c.references.push_back(
      {1.0 / static_cast<double>(experts), "uniform 1/" + std::to_string(experts)});
  return render_line_chart(c);
}

std::string imbalance_chart(const std::vector<LayerLoadSeries>& layers, const std::string& id,
                            const std::string& run) {
  LineChart c;
  c.id = id;
  c.title = run + ": load imbalance per MoE layer (max / mean of the expert loads)";
  c.x_label = "step";
  c.y_label = "max / mean";
  for (size_t i = 0; i < layers.size(); ++i) {
    LineSeries line;
    line.label = "layer " + std::to_string(layers[i].layer);
    line.color = series_color(i);
    line.x = layers[i].steps;
    for (const std::vector<double>& f : layers[i].fractions)
      line.y.push_back(load_imbalance(f));
    c.series.push_back(std::move(line));
  }
  c.references.push_back({1.0, "balanced"});
  return render_line_chart(c);
}

// A token as visible text: newlines and tabs spelled out, the rest as decoded.
std::string visible_token(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '\n')
      out += "\\n";
    else if (ch == '\t')
      out += "\\t";
    else if (ch == '\r')
      out += "\\r";
    else
      out += ch;
  }
  return out;
}

std::string top_tokens_tables(const EvalRecord& eval, const std::string& id_suffix,
                              const std::string& run) {
  std::string o = "<h4>" + escape_xml(run) + ": most frequent tokens per expert at step " +
                  std::to_string(eval.step) + " (assignments over the val batches)</h4>\n";
  for (const LayerRoutingRecord& l : eval.moe) {
    o += "<table class=\"top-tokens\" id=\"table-top-tokens-" + escape_xml(id_suffix) + "-layer" +
         std::to_string(l.layer) + "\">\n<caption>layer " + std::to_string(l.layer) +
         "</caption>\n<tr><th>expert</th><th>tokens (assignments)</th></tr>\n";
    for (size_t e = 0; e < l.top_tokens.size(); ++e) {
      o += "<tr><td>E" + std::to_string(e) + "</td><td class=\"tokens\">";
      for (const auto& [text, count] : l.top_tokens[e])
        o += "<code class=\"tok\">" + escape_xml(visible_token(text)) + "</code>&#160;" +
             std::to_string(count) + " ";
      o += "</td></tr>\n";
    }
    o += "</table>\n";
  }
  return o;
}

}  // namespace

double load_imbalance(const std::vector<double>& shares) {
  if (shares.empty()) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0.0, max = 0.0;
  for (double s : shares) {
    sum += s;
    max = std::max(max, s);
  }
  const double mean = sum / static_cast<double>(shares.size());
  return mean > 0.0 ? max / mean : std::numeric_limits<double>::quiet_NaN();
}

std::string router_analysis_html(const RunLog& log, const std::string& id_suffix) {
  std::string o = "<h3>" + escape_xml(log.name) + ": router analysis</h3>\n";
  const std::vector<LayerLoadSeries> layers = load_series(log);
  if (layers.empty()) {
    o += note(log.name + ": no expert loads logged yet (step records carry them every " +
              "train.log_every steps).");
  } else {
    o += imbalance_chart(layers, "chart-imbalance-" + id_suffix, log.name);
    for (const LayerLoadSeries& s : layers)
      o += load_chart(s, "chart-load-" + id_suffix + "-layer" + std::to_string(s.layer), log.name);
  }
  const EvalRecord* last = log.evals.empty() ? nullptr : &log.evals.back();
  const bool have_tokens =
      last && std::any_of(last->moe.begin(), last->moe.end(),
                          [](const LayerRoutingRecord& l) { return !l.top_tokens.empty(); });
  if (have_tokens)
    o += top_tokens_tables(*last, id_suffix, log.name);
  else
    o += note(log.name + ": no per-expert token counts in the last evaluation record.");
  return o;
}

}  // namespace moe
