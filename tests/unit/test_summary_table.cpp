#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "report/run_log.h"
#include "report/summary_table.h"
#include "report_fixture.h"

namespace moe {
namespace {

TEST(SummaryTable, ValuesFromAHandWrittenLog) {
  RunSummary s = summarize(parse_run_log(testing::kTinyMetrics, "m.jsonl", "tiny"));
  EXPECT_EQ(s.params, 1000);
  EXPECT_EQ(s.active_params, 600);
  EXPECT_EQ(s.steps, 2);
  EXPECT_DOUBLE_EQ(s.best_val_loss, 1.8);
  EXPECT_EQ(s.best_val_step, 2);
  EXPECT_DOUBLE_EQ(s.final_train_loss, 1.5);
  // 8 tokens per step at 8 and 4 tokens/s: 1 s + 2 s; 16 tokens / 3 s.
  EXPECT_DOUBLE_EQ(s.train_seconds, 3.0);
  EXPECT_DOUBLE_EQ(s.mean_tokens_per_s, 16.0 / 3.0);
  // Mean step times 200, 300, 100 ms -> seconds per 1000 steps.
  EXPECT_DOUBLE_EQ(s.forward_s, 200.0);
  EXPECT_DOUBLE_EQ(s.backward_s, 300.0);
  EXPECT_DOUBLE_EQ(s.optimizer_s, 100.0);
}

TEST(SummaryTable, ParameterCountsGetThousandsSeparators) {
  RunSummary s = summarize(parse_run_log(testing::kTinyMetrics, "m.jsonl", "tiny"));
  const std::vector<std::pair<int64_t, std::string>> cases = {
      {1, "1"},          {81, "81"},          {814, "814"},          {8144, "8,144"},
      {81441, "81,441"}, {814410, "814,410"}, {8996545, "8,996,545"}};
  for (const auto& [value, text] : cases) {
    s.params = value;
    const std::string md = summary_markdown({s});
    EXPECT_NE(md.find("\n| tiny | " + text + " | 600 |"), std::string::npos) << text << "\n" << md;
    EXPECT_NE(summary_csv({s}).find("\ntiny," + std::to_string(value) + ",600,"),
              std::string::npos);
  }
}

TEST(SummaryTable, RunWithoutEvalHasNoBestLoss) {
  std::string text = testing::kTinyMetrics;
  text = text.substr(0, text.find("{\"type\":\"eval\""));
  RunSummary s = summarize(parse_run_log(text, "m.jsonl", "early"));
  EXPECT_TRUE(std::isnan(s.best_val_loss));
  EXPECT_EQ(s.steps, 1);
}

std::vector<RunSummary> two_rows() {
  return {summarize(parse_run_log(testing::kTinyMetrics, "m.jsonl", "tiny")),
          failed_run("bad,one", "loss is nan at step 3 | \"x\"")};
}

TEST(SummaryTable, Markdown) {
  const std::string md = summary_markdown(two_rows());
  EXPECT_EQ(md,
            "| model | params | active params | steps | best val loss | mean tokens/s | forward "
            "s/1k steps | backward s/1k steps | optimizer s/1k steps | total s | status |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            "| tiny | 1,000 | 600 | 2 | 1.8000 | 5 | 200.00 | 300.00 | 100.00 | 3.0 | ok |\n"
            "| bad,one | - | - | - | - | - | - | - | - | - | failed: loss is nan at step 3 \\| "
            "\"x\" |\n");
}

TEST(SummaryTable, CsvQuotesFieldsThatNeedIt) {
  const std::string csv = summary_csv(two_rows());
  EXPECT_EQ(csv,
            "model,params,active params,steps,best val loss,mean tokens/s,forward s/1k steps,"
            "backward s/1k steps,optimizer s/1k steps,total s,status\n"
            "tiny,1000,600,2,1.8000,5,200.00,300.00,100.00,3.0,ok\n"
            "\"bad,one\",-,-,-,-,-,-,-,-,-,\"failed: loss is nan at step 3 | \"\"x\"\"\"\n");
}

TEST(SummaryTable, HtmlIsEscaped) {
  const std::string html = summary_html({failed_run("<b>", "a & b")});
  EXPECT_NE(html.find("<table id=\"summary-table\""), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"failed\"><td>&lt;b&gt;</td>"), std::string::npos);
  EXPECT_NE(html.find("failed: a &amp; b"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
}

}  // namespace
}  // namespace moe
