// Charts as inline SVG text: line charts (axes with ticks and labels, a legend, optional
// horizontal reference lines) and heat maps (a labelled grid of values coloured against a centre
// value, with a colour scale). Output is a pure function of the input, so tests can check it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moe {

// Tick positions for an axis covering [lo, hi]: the "nice numbers" rule of Heckbert, "Nice
// Numbers for Graph Labels", Graphics Gems (1990): the step is 1, 2, 5 or 10 times a power of
// ten, and the axis is widened to whole steps (lo = ticks.front(), hi = ticks.back()).
struct AxisTicks {
  double lo = 0.0, hi = 1.0, step = 1.0;
  std::vector<double> ticks;
};
AxisTicks nice_ticks(double lo, double hi, int max_ticks = 6);

// A tick label with as many decimals as the step needs: (0.25, 0.05) -> "0.25", (6000, 1000) ->
// "6000".
std::string format_tick(double value, double step);

// The i-th colour of a 10-colour qualitative palette (Tableau 10), cycling.
std::string series_color(size_t i);

struct LineSeries {
  std::string label;
  std::vector<double> x, y;  // same length; non-finite points are skipped
  std::string color;
  bool dashed = false;
};

struct ReferenceLine {
  double y = 0.0;
  std::string label;
};

struct LineChart {
  std::string id;  // the <svg> element's id
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  std::vector<ReferenceLine> references;
};

std::string render_line_chart(const LineChart& chart);

// Cell colour for `value` on a diverging scale centred at `center` (> 0): white at the centre,
// ColorBrewer RdBu blue (#2166ac) at 0 and red (#b2182b) at 2 x centre and above, linear between.
std::string heat_color(double value, double center);

struct HeatMap {
  std::string id;
  std::string title;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<double>> values;  // [row][col], shares in [0, 1]
  double center = 0.0;                      // the share coloured white (uniform: 1/E)
  std::string center_label;                 // e.g. "uniform 1/8"
};

// Cells show the values as percentages.
std::string render_heat_map(const HeatMap& map);

}  // namespace moe
