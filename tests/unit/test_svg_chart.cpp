#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>

#include "core/check.h"
#include "report/svg_chart.h"
#include "report/xml_escape.h"

namespace moe {
namespace {

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

TEST(XmlEscape, EscapesMarkupQuotesAndControlBytes) {
  EXPECT_EQ(escape_xml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(escape_xml("tab\tok\nline"), "tab\tok\nline");
  EXPECT_EQ(escape_xml(std::string("x\x01y")), "x\xEF\xBF\xBDy");
  EXPECT_EQ(escape_xml("plain é"), "plain é");
}

TEST(NiceTicks, UnitRange) {
  AxisTicks t = nice_ticks(0.0, 1.0);
  EXPECT_DOUBLE_EQ(t.step, 0.2);
  ASSERT_EQ(t.ticks.size(), 6u);
  EXPECT_DOUBLE_EQ(t.ticks.front(), 0.0);
  EXPECT_NEAR(t.ticks.back(), 1.0, 1e-12);
}

TEST(NiceTicks, WidensToWholeSteps) {
  AxisTicks t = nice_ticks(1.3, 4.7);
  EXPECT_DOUBLE_EQ(t.step, 1.0);
  EXPECT_EQ(t.ticks, (std::vector<double>{1, 2, 3, 4, 5}));
  EXPECT_DOUBLE_EQ(t.lo, 1.0);
  EXPECT_DOUBLE_EQ(t.hi, 5.0);
}

TEST(NiceTicks, LargeAndSmallRanges) {
  AxisTicks steps = nice_ticks(10, 5000);
  EXPECT_DOUBLE_EQ(steps.step, 1000.0);
  EXPECT_DOUBLE_EQ(steps.lo, 0.0);
  EXPECT_DOUBLE_EQ(steps.hi, 5000.0);
  AxisTicks loss = nice_ticks(1.52, 1.87);
  EXPECT_DOUBLE_EQ(loss.step, 0.1);
  EXPECT_NEAR(loss.lo, 1.5, 1e-12);
  EXPECT_NEAR(loss.hi, 1.9, 1e-12);
}

TEST(NiceTicks, FlatSeriesGetsARange) {
  AxisTicks t = nice_ticks(2.0, 2.0);
  EXPECT_LT(t.lo, 2.0);
  EXPECT_GT(t.hi, 2.0);
  AxisTicks z = nice_ticks(0.0, 0.0);
  EXPECT_LT(z.lo, 0.0);
  EXPECT_GT(z.hi, 0.0);
}

TEST(NiceTicks, ASpreadOfRoundingNoiseIsFlat) {
  // Expert choice's aux statistic is 1 up to the last bits (0.9999999999999997 .. 1).
  AxisTicks t = nice_ticks(0.9999999999999997, 1.0);
  EXPECT_LE(t.lo, 0.9);
  EXPECT_GE(t.hi, 1.1);
  EXPECT_LE(t.ticks.size(), 12u);
}

TEST(NiceTicks, RejectsNonFiniteRange) {
  EXPECT_THROW(nice_ticks(0.0, INFINITY), Error);
  EXPECT_THROW(nice_ticks(2.0, 1.0), Error);
}

TEST(FormatTick, DecimalsFollowTheStep) {
  EXPECT_EQ(format_tick(0.25, 0.05), "0.25");
  EXPECT_EQ(format_tick(6000, 1000), "6000");
  EXPECT_EQ(format_tick(1.5, 0.1), "1.5");
  EXPECT_EQ(format_tick(-1e-17, 0.2), "0.0");
}

TEST(HeatColor, WhiteAtUniformShareBlueBelowRedAbove) {
  EXPECT_EQ(heat_color(0.125, 0.125), "#ffffff");
  EXPECT_EQ(heat_color(0.0, 0.125), "#2166ac");
  EXPECT_EQ(heat_color(0.25, 0.125), "#b2182b");
  EXPECT_EQ(heat_color(0.9, 0.125), "#b2182b");  // clamped
  // Halfway between white and the RdBu red, rounded: (255 + 178) / 2 = 216.5 -> 217 = d9,
  // (255 + 24) / 2 = 139.5 -> 140 = 8c, (255 + 43) / 2 = 149 = 95.
  EXPECT_EQ(heat_color(0.1875, 0.125), "#d98c95");
  // A quarter of the way to the RdBu blue #2166ac: 199.5 -> c8, 216.75 -> d9, 234.25 -> ea.
  EXPECT_EQ(heat_color(0.09375, 0.125), "#c8d9ea");
  EXPECT_THROW(heat_color(0.1, 0.0), Error);
}

LineChart two_series_chart() {
  LineChart c;
  c.id = "chart-test";
  c.title = "Loss <of> \"runs\"";
  c.x_label = "step";
  c.y_label = "loss & more";
  c.series.push_back({"a<b> val", {0, 10, 20}, {3.0, 2.0, 1.5}, "#4e79a7", false});
  c.series.push_back({"a<b> train", {0, 10, 20}, {2.9, 1.9, NAN}, "#4e79a7", true});
  c.references.push_back({2.079, "max ln(8)"});
  return c;
}

TEST(LineChart, HasAxesTicksLegendAndEscapedText) {
  const std::string svg = render_line_chart(two_series_chart());
  EXPECT_EQ(svg.rfind("<svg id=\"chart-test\" class=\"chart line-chart\"", 0), 0u);
  EXPECT_NE(svg.find("<g class=\"axis x-axis\">"), std::string::npos);
  EXPECT_NE(svg.find("<g class=\"axis y-axis\">"), std::string::npos);
  EXPECT_NE(svg.find("<g class=\"legend\">"), std::string::npos);
  EXPECT_EQ(count_of(svg, "class=\"legend-entry\""), 3u);  // two series and the reference line
  EXPECT_EQ(count_of(svg, "class=\"series\""), 2u);
  EXPECT_EQ(count_of(svg, "class=\"reference\""), 1u);
  EXPECT_NE(svg.find("Loss &lt;of&gt; &quot;runs&quot;"), std::string::npos);
  EXPECT_NE(svg.find("loss &amp; more"), std::string::npos);
  EXPECT_NE(svg.find("a&lt;b&gt; val"), std::string::npos);
  EXPECT_EQ(svg.find("a<b>"), std::string::npos);
  // x ticks 0..20 by 5, y ticks 1.5..3.0 by 0.5 (the reference 2.079 lies inside).
  for (const char* label : {">0<", ">5<", ">10<", ">15<", ">20<", ">1.5<", ">2.0<", ">3.0<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_NE(svg.find("stroke-dasharray=\"6 4\" points="), std::string::npos);
}

TEST(LineChart, NonFinitePointsAreSkipped) {
  const std::string svg = render_line_chart(two_series_chart());
  // The dashed series keeps 2 of its 3 points.
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(svg, m, std::regex("stroke-dasharray=\"6 4\" points=\"([^\"]*)\"")));
  EXPECT_EQ(count_of(m[1].str(), ","), 2u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

TEST(LineChart, EmptyChartSaysSo) {
  LineChart c;
  c.id = "empty";
  const std::string svg = render_line_chart(c);
  EXPECT_NE(svg.find("no data yet"), std::string::npos);
  EXPECT_NE(svg.find("x-axis"), std::string::npos);
}

TEST(LineChart, MismatchedSeriesIsAnError) {
  LineChart c;
  c.id = "bad";
  c.series.push_back({"s", {1, 2}, {1}, "#000", false});
  EXPECT_THROW(render_line_chart(c), Error);
}

TEST(HeatMap, CellsColouredAgainstTheCentreWithNumbersAndScale) {
  HeatMap h;
  h.id = "heatmap-test";
  h.title = "usage";
  h.row_labels = {"layer 0", "layer 1"};
  h.col_labels = {"E0", "E1"};
  h.values = {{0.5, 0.5}, {0.0, 1.0}};
  h.center = 0.5;
  h.center_label = "uniform 1/2";
  const std::string svg = render_heat_map(h);
  EXPECT_EQ(count_of(svg, "class=\"cell\""), 4u);
  EXPECT_EQ(count_of(svg, "fill=\"#ffffff\" stroke"), 2u);  // the uniform row
  EXPECT_NE(svg.find("fill=\"#2166ac\" stroke"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"#b2182b\" stroke"), std::string::npos);
  EXPECT_NE(svg.find(">50.0</text>"), std::string::npos);
  EXPECT_NE(svg.find(">100.0</text>"), std::string::npos);
  EXPECT_NE(svg.find("<g class=\"color-scale\">"), std::string::npos);
  EXPECT_EQ(count_of(svg, "class=\"swatch\""), 11u);
  EXPECT_NE(svg.find("50.0% uniform 1/2"), std::string::npos);
  EXPECT_NE(svg.find("layer 1, E1: 100.0%"), std::string::npos);
}

TEST(HeatMap, ShapeMismatchIsAnError) {
  HeatMap h;
  h.id = "bad";
  h.row_labels = {"layer 0"};
  h.col_labels = {"E0", "E1"};
  h.values = {{0.5}};
  h.center = 0.5;
  EXPECT_THROW(render_heat_map(h), Error);
}

}  // namespace
}  // namespace moe
