#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "core/check.h"
#include "report/run_log.h"
#include "report_fixture.h"
#include "unit/scratch.h"

namespace moe {
namespace {

using moe::testing::error_of;

TEST(RunLog, ParsesStartStepAndEvalRecords) {
  RunLog log = parse_run_log(testing::kTinyMetrics, "m.jsonl", "tiny");
  EXPECT_EQ(log.name, "tiny");
  EXPECT_EQ(log.params, 1000);
  EXPECT_EQ(log.active_params, 600);
  EXPECT_EQ(log.data, "synthetic");
  EXPECT_EQ(log.tokens_per_step(), 8);
  ASSERT_EQ(log.steps.size(), 2u);
  EXPECT_EQ(log.steps[1].step, 2);
  EXPECT_DOUBLE_EQ(log.steps[1].aux_loss, 1.5);
  EXPECT_DOUBLE_EQ(log.steps[1].tokens_per_s, 4.0);
  EXPECT_DOUBLE_EQ(log.steps[0].optimizer_ms, 50.0);
  ASSERT_EQ(log.evals.size(), 2u);
  EXPECT_DOUBLE_EQ(log.evals[1].val_loss, 1.8);
  ASSERT_EQ(log.evals[1].moe.size(), 1u);
  EXPECT_EQ(log.evals[1].moe[0].expert_usage, (std::vector<double>{0.25, 0.75}));
  EXPECT_DOUBLE_EQ(log.evals[1].moe[0].entropy, 0.56);
  EXPECT_TRUE(log.is_moe());
  EXPECT_FALSE(log.torn_last_line);
}

TEST(RunLog, TornLastLineOfAKilledRunIsSkipped) {
  std::string text = testing::kTinyMetrics;
  text += R"({"type":"step","step":3,"loss":1.9,"aux_lo)";  // no newline: killed mid-write
  RunLog log = parse_run_log(text, "m.jsonl", "tiny");
  EXPECT_TRUE(log.torn_last_line);
  EXPECT_EQ(log.steps.size(), 2u);
  EXPECT_EQ(log.evals.size(), 2u);
}

TEST(RunLog, BrokenLineInTheMiddleIsAnError) {
  std::string text = testing::kTinyMetrics;
  text.insert(text.find("\n") + 1, "{not json\n");
  EXPECT_TRUE(error_of([&] {
                parse_run_log(text, "m.jsonl", "tiny");
              }).starts_with("m.jsonl line 2 is not valid JSON (parse error at line 1, column 3"));
}

TEST(RunLog, DeeplyNestedRecordsAreErrorsNotCrashes) {
  const std::string deep = "{\"type\":\"step\",\"x\":" + std::string(100000, '[') + "}\n";
  std::string text = testing::kTinyMetrics;
  text.insert(text.find("\n") + 1, deep);
  EXPECT_EQ(error_of([&] { parse_run_log(text, "m.jsonl", "tiny"); }),
            "m.jsonl line 2 nests arrays and objects more than 64 deep (at byte 82)");
  // As the last line it reads as a line torn by a killed run.
  RunLog log = parse_run_log(std::string(testing::kTinyMetrics) + deep, "m.jsonl", "tiny");
  EXPECT_TRUE(log.torn_last_line);
}

TEST(RunLog, WrongTypesNameLineAndKey) {
  std::string text = testing::kTinyMetrics;
  text.replace(text.find("\"data\":\"synthetic\""), 18, "\"data\":7");
  EXPECT_EQ(error_of([&] { parse_run_log(text, "m.jsonl", "tiny"); }),
            "m.jsonl line 1: \"data\" must be a string, not 7");
}

TEST(RunLog, MissingFieldNamesLineAndKey) {
  std::string text = testing::kTinyMetrics;
  const size_t at = text.find("\"grad_norm\":1.0,");
  text.erase(at, std::string("\"grad_norm\":1.0,").size());
  EXPECT_EQ(error_of([&] { parse_run_log(text, "m.jsonl", "tiny"); }),
            "m.jsonl line 2: record lacks the number 'grad_norm'");
}

TEST(RunLog, BatchShapeMustBeCountsNotFloatsOrHugeNumbers) {
  // A float or a number beyond int64 in the start record's config never reaches integer
  // arithmetic (found by fuzz_metrics_jsonl: grad_accum 2e95).
  for (const auto& [value, message] :
       {std::pair{std::string("2e95"), std::string("\"grad_accum\" must be a 64-bit integer")},
        {std::string("1.5"), std::string("\"grad_accum\" must be a 64-bit integer")},
        {std::string("0"), std::string("train.grad_accum = 0, not a count in [1, 1048576]")}}) {
    std::string text = testing::kTinyMetrics;
    const size_t at = text.find("\"grad_accum\":1");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, std::string("\"grad_accum\":1").size(), "\"grad_accum\":" + value);
    const std::string error = error_of([&] { parse_run_log(text, "m.jsonl", "tiny"); });
    EXPECT_NE(error.find("m.jsonl: "), std::string::npos) << error;
    EXPECT_NE(error.find(message), std::string::npos) << error;
  }
}

TEST(RunLog, NoStartRecordIsAnError) {
  std::string text = testing::kTinyMetrics;
  text.erase(0, text.find('\n') + 1);
  EXPECT_NE(
      error_of([&] { parse_run_log(text, "m.jsonl", "tiny"); }).find("m.jsonl has no start record"),
      std::string::npos);
}

TEST(RunLog, DenseRunHasNoMoE) {
  std::string text = testing::kTinyMetrics;
  for (size_t at; (at = text.find("\"moe\":[{")) != std::string::npos;)
    text.replace(at, text.find("}]", at) + 2 - at, "\"moe\":[]");
  RunLog log = parse_run_log(text, "m.jsonl", "dense");
  EXPECT_EQ(log.evals.size(), 2u);
  EXPECT_FALSE(log.is_moe());
}

TEST(RunLog, ReadsRunDirectoryAndNamesMissingFiles) {
  const std::string dir = ::testing::TempDir() + "/run_log_dir/myrun";
  std::filesystem::remove_all(dir);
  EXPECT_EQ(error_of([&] { read_run_log(dir); }), "run directory " + dir + " does not exist");
  std::filesystem::create_directories(dir);
  EXPECT_EQ(error_of([&] { read_run_log(dir); }),
            "no metrics.jsonl in " + dir + " (not a moe train run directory?)");
  std::ofstream(dir + "/metrics.jsonl") << testing::kTinyMetrics;
  RunLog log = read_run_log(dir + "/");
  EXPECT_EQ(log.name, "myrun");
  EXPECT_EQ(log.steps.size(), 2u);
}

}  // namespace
}  // namespace moe
