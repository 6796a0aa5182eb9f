#include "report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/check.h"
#include "report/xml_escape.h"

namespace moe {

namespace {

// A "nice" number near x: 1, 2, 5 or 10 times a power of ten; rounded to the nearest or the
// next above (Heckbert 1990).
double nice_number(double x, bool round) {
  const double exponent = std::floor(std::log10(x));
  const double fraction = x / std::pow(10.0, exponent);
  double nice;
  if (round)
    nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  else
    nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * std::pow(10.0, exponent);
}

// SVG coordinates with two decimals: enough for any screen, and stable text for tests.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", share * 100.0);
  return buf;
}

struct Rgb {
  double r, g, b;
};

std::string hex(Rgb c) {
  char buf[8];
  auto byte = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0))); };
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", byte(c.r), byte(c.g), byte(c.b));
  return buf;
}

// Position on the diverging scale: -1 at 0, 0 at the centre, +1 at twice the centre and above.
double diverging_position(double value, double center) {
  return std::clamp((value - center) / center, -1.0, 1.0);
}

// Line chart layout (pixels): plot area and the legend column on its right.
constexpr double kWidth = 760, kHeight = 380;
constexpr double kLeft = 70, kTop = 40, kRight = kWidth - 200, kBottom = kHeight - 52;
constexpr size_t kMaxMarkedPoints = 40;  // series this short also get a dot per point

}  // namespace

AxisTicks nice_ticks(double lo, double hi, int max_ticks) {
  MOE_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "axis range [", lo, ", ", hi,
            "] is not a finite interval");
  MOE_CHECK(max_ticks >= 2, "an axis needs at least 2 ticks, asked for ", max_ticks);
  // A flat series, or one whose spread is rounding noise (1 - 2e-16 .. 1): open the range around
  // the value. Steps far below the values' ulp would make the tick loop below never advance.
  if (hi - lo <= 1e-9 * std::max(std::fabs(lo), std::fabs(hi))) {
    const double pad = lo == 0.0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  AxisTicks axis;
  const double range = nice_number(hi - lo, false);
  axis.step = nice_number(range / (max_ticks - 1), true);
  // The tolerance keeps 1.0 / 0.2 = 5.000000000000001 from adding an empty step.
  const double first = std::floor(lo / axis.step + 1e-9);
  const double last = std::ceil(hi / axis.step - 1e-9);
  for (double k = first; k <= last; k += 1.0)
    axis.ticks.push_back(k * axis.step);
  axis.lo = axis.ticks.front();
  axis.hi = axis.ticks.back();
  return axis;
}

std::string format_tick(double value, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  if (std::fabs(value) < step * 1e-6) value = 0.0;  // no "-0.0"
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string series_color(size_t i) {
  static const char* const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return palette[i % (sizeof palette / sizeof palette[0])];
}

std::string render_line_chart(const LineChart& chart) {
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const LineSeries& s : chart.series) {
    MOE_CHECK(s.x.size() == s.y.size(), "chart ", chart.id, ": series '", s.label, "' has ",
              s.x.size(), " x values but ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x_lo = std::min(x_lo, s.x[i]);
      x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i]);
      y_hi = std::max(y_hi, s.y[i]);
    }
  }
  const bool has_data = x_lo <= x_hi;
  if (!has_data) x_lo = y_lo = 0.0, x_hi = y_hi = 1.0;
  for (const ReferenceLine& r : chart.references) {
    y_lo = std::min(y_lo, r.y);
    y_hi = std::max(y_hi, r.y);
  }
  const AxisTicks xt = nice_ticks(x_lo, x_hi), yt = nice_ticks(y_lo, y_hi);
  auto px = [&](double x) { return kLeft + (x - xt.lo) / (xt.hi - xt.lo) * (kRight - kLeft); };
  auto py = [&](double y) { return kBottom - (y - yt.lo) / (yt.hi - yt.lo) * (kBottom - kTop); };

  std::string o;
  o += "<svg id=\"" + escape_xml(chart.id) + "\" class=\"chart line-chart\" width=\"" +
       num(kWidth) + "\" height=\"" + num(kHeight) + "\" viewBox=\"0 0 " + num(kWidth) + " " +
       num(kHeight) + "\" role=\"img\" aria-label=\"" + escape_xml(chart.title) + "\">\n";
  o += "<text class=\"chart-title\" x=\"" + num(kLeft) + "\" y=\"22\">" + escape_xml(chart.title) +
       "</text>\n";
  o += "<g class=\"grid\">";
  for (double t : yt.ticks)
    o += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(py(t)) + "\" x2=\"" + num(kRight) +
         "\" y2=\"" + num(py(t)) + "\"/>";
  o += "</g>\n";

  o += "<g class=\"axis x-axis\"><line x1=\"" + num(kLeft) + "\" y1=\"" + num(kBottom) +
       "\" x2=\"" + num(kRight) + "\" y2=\"" + num(kBottom) + "\"/>";
  for (double t : xt.ticks)
    o += "<line class=\"tick\" x1=\"" + num(px(t)) + "\" y1=\"" + num(kBottom) + "\" x2=\"" +
         num(px(t)) + "\" y2=\"" + num(kBottom + 5) + "\"/><text class=\"tick-label\" x=\"" +
         num(px(t)) + "\" y=\"" + num(kBottom + 18) + "\" text-anchor=\"middle\">" +
         escape_xml(format_tick(t, xt.step)) + "</text>";
  o += "<text class=\"axis-label\" x=\"" + num((kLeft + kRight) / 2) + "\" y=\"" +
       num(kBottom + 40) + "\" text-anchor=\"middle\">" + escape_xml(chart.x_label) +
       "</text></g>\n";

  o += "<g class=\"axis y-axis\"><line x1=\"" + num(kLeft) + "\" y1=\"" + num(kTop) + "\" x2=\"" +
       num(kLeft) + "\" y2=\"" + num(kBottom) + "\"/>";
  for (double t : yt.ticks)
    o += "<line class=\"tick\" x1=\"" + num(kLeft - 5) + "\" y1=\"" + num(py(t)) + "\" x2=\"" +
         num(kLeft) + "\" y2=\"" + num(py(t)) + "\"/><text class=\"tick-label\" x=\"" +
         num(kLeft - 8) + "\" y=\"" + num(py(t) + 4) + "\" text-anchor=\"end\">" +
         escape_xml(format_tick(t, yt.step)) + "</text>";
  const double y_mid = (kTop + kBottom) / 2;
  o += "<text class=\"axis-label\" x=\"16\" y=\"" + num(y_mid) +
       "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " + num(y_mid) + ")\">" +
       escape_xml(chart.y_label) + "</text></g>\n";

  for (const ReferenceLine& r : chart.references)
    o += "<line class=\"reference\" x1=\"" + num(kLeft) + "\" y1=\"" + num(py(r.y)) + "\" x2=\"" +
         num(kRight) + "\" y2=\"" + num(py(r.y)) +
         "\" stroke=\"#555\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"><title>" +
         escape_xml(r.label) + "</title></line>\n";

  for (const LineSeries& s : chart.series) {
    std::string points, dots;
    size_t n = 0;
    for (size_t i = 0; i < s.x.size(); ++i)
      n += std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      if (!points.empty()) points += ' ';
      points += num(px(s.x[i])) + "," + num(py(s.y[i]));
      if (n <= kMaxMarkedPoints)
        dots += "<circle cx=\"" + num(px(s.x[i])) + "\" cy=\"" + num(py(s.y[i])) +
                "\" r=\"2.5\" fill=\"" + escape_xml(s.color) + "\"/>";
    }
    o += "<g class=\"series\" data-label=\"" + escape_xml(s.label) + "\"><title>" +
         escape_xml(s.label) + "</title><polyline fill=\"none\" stroke=\"" + escape_xml(s.color) +
         "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"" +
         points + "\"/>" + dots + "</g>\n";
  }
  if (!has_data)
    o += "<text class=\"no-data\" x=\"" + num((kLeft + kRight) / 2) + "\" y=\"" + num(y_mid) +
         "\" text-anchor=\"middle\">no data yet</text>\n";

  o += "<g class=\"legend\">";
  double ly = kTop + 6;
  auto legend_entry = [&](const std::string& label, const std::string& color, const char* dash) {
    o += "<g class=\"legend-entry\"><line x1=\"" + num(kRight + 16) + "\" y1=\"" + num(ly) +
         "\" x2=\"" + num(kRight + 40) + "\" y2=\"" + num(ly) + "\" stroke=\"" + escape_xml(color) +
         "\" stroke-width=\"2\"" + dash + "/><text x=\"" + num(kRight + 46) + "\" y=\"" +
         num(ly + 4) + "\">" + escape_xml(label) + "</text></g>";
    ly += 18;
  };
  for (const LineSeries& s : chart.series)
    legend_entry(s.label, s.color, s.dashed ? " stroke-dasharray=\"6 4\"" : "");
  for (const ReferenceLine& r : chart.references)
    legend_entry(r.label, "#555", " stroke-dasharray=\"2 3\"");
  o += "</g>\n</svg>\n";
  return o;
}

std::string heat_color(double value, double center) {
  MOE_CHECK(center > 0, "heat map centre must be positive, got ", center);
  const Rgb white{255, 255, 255}, blue{0x21, 0x66, 0xac}, red{0xb2, 0x18, 0x2b};
  const double t = std::isfinite(value) ? diverging_position(value, center) : 0.0;
  const Rgb end = t < 0 ? blue : red;
  const double a = std::fabs(t);
  return hex({white.r + (end.r - white.r) * a, white.g + (end.g - white.g) * a,
              white.b + (end.b - white.b) * a});
}

std::string render_heat_map(const HeatMap& map) {
  MOE_CHECK(map.values.size() == map.row_labels.size(), "heat map ", map.id, ": ",
            map.values.size(), " rows of values but ", map.row_labels.size(), " row labels");
  for (const auto& row : map.values)
    MOE_CHECK(row.size() == map.col_labels.size(), "heat map ", map.id, ": a row has ", row.size(),
              " values but there are ", map.col_labels.size(), " columns");
  constexpr double kCellW = 52, kCellH = 26, kLabelW = 80, kTitleH = 28, kHeaderH = 20;
  constexpr int kSwatches = 11;
  constexpr double kSwatchW = 24;
  const double grid_w = kCellW * static_cast<double>(map.col_labels.size());
  const double grid_top = kTitleH + kHeaderH;
  const double grid_bottom = grid_top + kCellH * static_cast<double>(map.row_labels.size());
  const double scale_top = grid_bottom + 16;
  constexpr double kTitleCharW = 9;  // a generous width of one 14px bold character
  const double width = std::max({kLabelW + grid_w + 16, kLabelW + kSwatches * kSwatchW + 120,
                                 kTitleCharW * static_cast<double>(map.title.size()) + 8});
  const double height = scale_top + 44;

  std::string o;
  o += "<svg id=\"" + escape_xml(map.id) + "\" class=\"chart heatmap\" width=\"" + num(width) +
       "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
       "\" role=\"img\" aria-label=\"" + escape_xml(map.title) + "\">\n";
  o += "<text class=\"chart-title\" x=\"4\" y=\"18\">" + escape_xml(map.title) + "</text>\n";
  o += "<g class=\"axis col-labels\">";
  for (size_t c = 0; c < map.col_labels.size(); ++c)
    o += "<text x=\"" + num(kLabelW + kCellW * (static_cast<double>(c) + 0.5)) + "\" y=\"" +
         num(grid_top - 6) + "\" text-anchor=\"middle\">" + escape_xml(map.col_labels[c]) +
         "</text>";
  o += "</g>\n<g class=\"axis row-labels\">";
  for (size_t r = 0; r < map.row_labels.size(); ++r)
    o += "<text x=\"" + num(kLabelW - 8) + "\" y=\"" +
         num(grid_top + kCellH * (static_cast<double>(r) + 0.5) + 4) + "\" text-anchor=\"end\">" +
         escape_xml(map.row_labels[r]) + "</text>";
  o += "</g>\n<g class=\"cells\">";
  for (size_t r = 0; r < map.values.size(); ++r) {
    for (size_t c = 0; c < map.values[r].size(); ++c) {
      const double v = map.values[r][c];
      const double x = kLabelW + kCellW * static_cast<double>(c);
      const double y = grid_top + kCellH * static_cast<double>(r);
      // Strong colours get white numbers, pale ones dark numbers.
      const bool strong = std::fabs(diverging_position(v, map.center)) > 0.6;
      o += "<rect class=\"cell\" x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(kCellW) +
           "\" height=\"" + num(kCellH) + "\" fill=\"" + heat_color(v, map.center) +
           "\" stroke=\"#fff\"><title>" +
           escape_xml(map.row_labels[r] + ", " + map.col_labels[c] + ": " + percent(v) + "%") +
           "</title></rect><text class=\"cell-value\" x=\"" + num(x + kCellW / 2) + "\" y=\"" +
           num(y + kCellH / 2 + 4) + "\" text-anchor=\"middle\" fill=\"" +
           (strong ? "#fff" : "#222") + "\">" + percent(v) + "</text>";
    }
  }
  o += "</g>\n<g class=\"color-scale\">";
  for (int i = 0; i < kSwatches; ++i) {
    const double v = 2.0 * map.center * i / (kSwatches - 1);
    o += "<rect class=\"swatch\" x=\"" + num(kLabelW + kSwatchW * i) + "\" y=\"" + num(scale_top) +
         "\" width=\"" + num(kSwatchW) + "\" height=\"12\" fill=\"" + heat_color(v, map.center) +
         "\"/>";
  }
  const double scale_right = kLabelW + kSwatchW * kSwatches;
  o += "<text x=\"" + num(kLabelW) + "\" y=\"" + num(scale_top + 28) +
       "\" text-anchor=\"start\">0%</text>";
  o += "<text x=\"" + num((kLabelW + scale_right) / 2) + "\" y=\"" + num(scale_top + 28) +
       "\" text-anchor=\"middle\">" + escape_xml(percent(map.center) + "% " + map.center_label) +
       "</text>";
  o += "<text x=\"" + num(scale_right) + "\" y=\"" + num(scale_top + 28) +
       "\" text-anchor=\"end\">" + escape_xml("≥" + percent(2 * map.center) + "%") + "</text>";
  o += "<text x=\"4\" y=\"" + num(scale_top + 10) + "\">usage</text>";
  o += "</g>\n</svg>\n";
  return o;
}

}  // namespace moe
