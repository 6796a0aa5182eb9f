#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/fs.h"
#include "report/report_html.h"
#include "report/write_report.h"
#include "report_fixture.h"

namespace moe {
namespace {

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

RunLog tiny_log(const std::string& name) {
  return parse_run_log(testing::kTinyMetrics, "m.jsonl", name);
}

TEST(ReportHtml, RunPageHasEveryPart) {
  const std::string html = run_report_html(tiny_log("tiny"));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  for (const char* part :
       {"id=\"summary-table\"", "id=\"chart-loss\"", "id=\"heatmap-usage-0\"",
        "id=\"chart-entropy-0\"", "id=\"chart-aux\"", "id=\"chart-throughput\"",
        "max ln(2) = 0.693", "600 active per token", ">25.0</text>", ">75.0</text>"})
    EXPECT_TRUE(has(html, part)) << part;
  // Self-contained: no scripts and nothing fetched.
  EXPECT_FALSE(has(html, "<script"));
  EXPECT_FALSE(has(html, "src="));
  EXPECT_FALSE(has(html, "href="));
}

TEST(ReportHtml, DenseRunOmitsMoECharts) {
  std::string text = testing::kTinyMetrics;
  for (size_t at; (at = text.find("\"moe\":[{")) != std::string::npos;)
    text.replace(at, text.find("}]", at) + 2 - at, "\"moe\":[]");
  const std::string html = run_report_html(parse_run_log(text, "m.jsonl", "dense"));
  EXPECT_TRUE(has(html, "id=\"chart-loss\""));
  EXPECT_TRUE(has(html, "id=\"chart-throughput\""));
  EXPECT_FALSE(has(html, "heatmap-usage"));
  EXPECT_FALSE(has(html, "chart-entropy"));
  EXPECT_FALSE(has(html, "id=\"chart-aux\""));
  EXPECT_TRUE(has(html, "dense: dense model (no MoE layers), no routing charts."));
}

TEST(ReportHtml, ComparePageHasAllRunsAndFailures) {
  std::vector<RunLog> logs = {tiny_log("a<1>"), tiny_log("b")};
  std::vector<RunSummary> rows = {summarize(logs[0]), summarize(logs[1]),
                                  failed_run("c", "loss is nan")};
  const std::string html = compare_report_html(logs, rows);
  for (const char* part :
       {"id=\"summary-table\"", "id=\"chart-loss\"", "id=\"heatmap-usage-0\"",
        "id=\"heatmap-usage-1\"", "id=\"chart-entropy-1\"", "id=\"chart-aux\"",
        "id=\"chart-throughput\"", "a&lt;1&gt; val", "b train", "c failed: loss is nan"})
    EXPECT_TRUE(has(html, part)) << part;
  EXPECT_FALSE(has(html, "a<1>"));
}

TEST(ReportHtml, WriteRunReportReplacesTheFile) {
  const std::string dir = ::testing::TempDir() + "/report_html_run";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/metrics.jsonl") << testing::kTinyMetrics;
  EXPECT_EQ(write_run_report(dir), dir + "/report.html");
  EXPECT_TRUE(has(read_file(dir + "/report.html"), "id=\"chart-loss\""));
  EXPECT_EQ(write_run_report(dir, dir + "/other.html"), dir + "/other.html");
  EXPECT_TRUE(std::filesystem::exists(dir + "/other.html"));
}

TEST(ReportHtml, RefreshNeverThrows) {
  const std::string dir = ::testing::TempDir() + "/report_html_missing";
  std::filesystem::remove_all(dir);
  ::testing::internal::CaptureStderr();
  refresh_run_report(dir);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "warning: report.html not updated: run directory " + dir + " does not exist\n");
}

// A start record whose model.arch is nested 100,000 arrays deep (dumping it for the page, or
// copying it, would overflow the stack): the refresh inside training warns and returns.
TEST(ReportHtml, RefreshSurvivesADeeplyNestedLog) {
  const std::string dir = ::testing::TempDir() + "/report_html_deep";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string log = testing::kTinyMetrics;
  const std::string arch = "\"arch\":\"gpt\"";
  log.replace(log.find(arch), arch.size(),
              "\"arch\":" + std::string(100000, '[') + std::string(100000, ']'));
  write_file_atomic(dir + "/metrics.jsonl", log);
  ::testing::internal::CaptureStderr();
  refresh_run_report(dir);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "warning: report.html not updated: " + dir +
                     "/metrics.jsonl line 1 nests arrays and objects more than 64 deep (at byte " +
                     std::to_string(log.find('[') + 61) + ")\n");
  EXPECT_FALSE(std::filesystem::exists(dir + "/report.html"));
}

}  // namespace
}  // namespace moe
