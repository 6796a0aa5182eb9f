#include "report/summary_table.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/check.h"
#include "report/xml_escape.h"

namespace moe {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// 8996545 -> "8,996,545" (pretty) or "8996545".
std::string count(int64_t v, bool pretty) {
  std::string digits = std::to_string(v);
  if (!pretty) return digits;
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';  // a comma before each group of 3
    out += digits[i];
  }
  return out;
}

// One column of the table: its header and its cell text (pretty: thousands separators).
struct Column {
  const char* header;
  std::string (*cell)(const RunSummary&, bool pretty);
};

const std::vector<Column>& columns() {
  static const std::vector<Column> cols = {
      {"model", [](const RunSummary& r, bool) { return r.name; }},
      {"params", [](const RunSummary& r, bool p) { return count(r.params, p); }},
      {"active params", [](const RunSummary& r, bool p) { return count(r.active_params, p); }},
      {"steps", [](const RunSummary& r, bool) { return std::to_string(r.steps); }},
      {"best val loss", [](const RunSummary& r, bool) { return fixed(r.best_val_loss, 4); }},
      {"mean tokens/s", [](const RunSummary& r, bool) { return fixed(r.mean_tokens_per_s, 0); }},
      {"forward s/1k steps", [](const RunSummary& r, bool) { return fixed(r.forward_s, 2); }},
      {"backward s/1k steps", [](const RunSummary& r, bool) { return fixed(r.backward_s, 2); }},
      {"optimizer s/1k steps", [](const RunSummary& r, bool) { return fixed(r.optimizer_s, 2); }},
      {"total s", [](const RunSummary& r, bool) { return fixed(r.train_seconds, 1); }},
      {"status",
       [](const RunSummary& r, bool) { return r.error.empty() ? "ok" : "failed: " + r.error; }},
  };
  static_assert(kStepsPerRow == 1000, "the column headers say 1k steps");
  return cols;
}

// The cells of a row; a failed run shows only its name and status.
std::vector<std::string> row_cells(const RunSummary& r, bool pretty) {
  std::vector<std::string> cells;
  const auto& cols = columns();
  for (size_t c = 0; c < cols.size(); ++c) {
    const bool shown = r.error.empty() || c == 0 || c + 1 == cols.size();
    cells.push_back(shown ? cols[c].cell(r, pretty) : "-");
  }
  return cells;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s)
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A Markdown table cell: pipes escaped and line breaks flattened so the row stays one line.
std::string markdown_field(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

// One CSV record: fields joined by commas, ended by a newline.
std::string csv_line(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += ',';
    line += csv_field(fields[i]);
  }
  return line + "\n";
}

}  // namespace

RunSummary summarize(const RunLog& log) {
  RunSummary s;
  s.name = log.name;
  s.params = log.params;
  s.active_params = log.active_params;
  s.steps = log.steps.empty() ? 0 : log.steps.back().step;
  s.best_val_loss = s.final_train_loss = s.final_val_loss = kNaN;
  for (const EvalRecord& e : log.evals) {
    if (!(e.val_loss >= s.best_val_loss)) {  // also true while best is NaN
      s.best_val_loss = e.val_loss;
      s.best_val_step = e.step;
    }
  }
  if (!log.evals.empty()) {
    s.final_train_loss = log.evals.back().train_loss;
    s.final_val_loss = log.evals.back().val_loss;
  }
  const double tokens = static_cast<double>(log.tokens_per_step());
  double fwd_ms = 0, bwd_ms = 0, opt_ms = 0;
  for (const StepRecord& st : log.steps) {
    MOE_CHECK(st.tokens_per_s > 0, "run ", log.name, ": step ", st.step,
              " has a non-positive tokens_per_s");
    s.train_seconds += tokens / st.tokens_per_s;
    fwd_ms += st.forward_ms;
    bwd_ms += st.backward_ms;
    opt_ms += st.optimizer_ms;
  }
  const double n = static_cast<double>(log.steps.size());
  if (n > 0) {
    s.mean_tokens_per_s = tokens * n / s.train_seconds;
    const double per_row = static_cast<double>(kStepsPerRow) / n / 1000.0;  // ms -> s per row
    s.forward_s = fwd_ms * per_row;
    s.backward_s = bwd_ms * per_row;
    s.optimizer_s = opt_ms * per_row;
  }
  return s;
}

RunSummary failed_run(const std::string& name, const std::string& error) {
  RunSummary s;
  s.name = name;
  s.error = error.empty() ? "unknown error" : error;
  return s;
}

std::string summary_markdown(const std::vector<RunSummary>& rows) {
  std::string out = "|";
  std::string rule = "|";
  for (size_t c = 0; c < columns().size(); ++c) {
    out += std::string(" ") + columns()[c].header + " |";
    rule += c == 0 ? "---|" : "---:|";  // names left-aligned, figures right-aligned
  }
  out += "\n" + rule + "\n";
  for (const RunSummary& r : rows) {
    out += "|";
    for (const std::string& cell : row_cells(r, true)) {
      out += ' ';
      out += markdown_field(cell);
      out += " |";
    }
    out += "\n";
  }
  return out;
}

std::string summary_csv(const std::vector<RunSummary>& rows) {
  std::vector<std::string> headers;
  for (const Column& c : columns())
    headers.push_back(c.header);
  std::string out = csv_line(headers);
  for (const RunSummary& r : rows)
    out += csv_line(row_cells(r, false));
  return out;
}

std::string summary_html(const std::vector<RunSummary>& rows) {
  std::string out = "<table id=\"summary-table\" class=\"summary\">\n<thead><tr>";
  for (const Column& c : columns())
    out += "<th>" + escape_xml(c.header) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const RunSummary& r : rows) {
    out += r.error.empty() ? "<tr>" : "<tr class=\"failed\">";
    for (const std::string& cell : row_cells(r, true))
      out += "<td>" + escape_xml(cell) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

}  // namespace moe
