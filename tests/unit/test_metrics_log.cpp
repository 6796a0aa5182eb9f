#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "train/metrics_log.h"

namespace fs = std::filesystem;

namespace {

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("moe_metrics_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::istringstream in(moe::read_file(path));
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);)
    out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(MetricsLog, WritesOneFlushedLinePerRecord) {
  std::string p = temp_path("log.jsonl");
  {
    moe::MetricsLog log(p, false);
    log.write({{"step", 1}, {"loss", 2.5}});
    // Readable before the log is closed.
    std::vector<nlohmann::json> lines = read_lines(p);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["step"], 1);
    log.write({{"step", 2}, {"loss", 2.25}, {"note", "multi\nline"}});
  }
  std::vector<nlohmann::json> lines = read_lines(p);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["loss"], 2.25);
  EXPECT_EQ(lines[1]["note"], "multi\nline");
  fs::remove(p);
}

TEST(MetricsLog, AppendKeepsAndTruncateDrops) {
  std::string p = temp_path("append.jsonl");
  { moe::MetricsLog(p, false).write({{"step", 1}}); }
  { moe::MetricsLog(p, true).write({{"step", 2}}); }
  std::vector<nlohmann::json> lines = read_lines(p);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["step"], 1);
  EXPECT_EQ(lines[1]["step"], 2);
  { moe::MetricsLog(p, false).write({{"step", 3}}); }
  lines = read_lines(p);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["step"], 3);
  fs::remove(p);
}

TEST(MetricsLog, InvalidUtf8IsReplacedNotFatal) {
  std::string p = temp_path("utf8.jsonl");
  {
    moe::MetricsLog log(p, false);
    log.write({{"text", std::string("a\xff")}});
  }
  EXPECT_EQ(read_lines(p).size(), 1u);
  fs::remove(p);
}

TEST(MetricsLog, CannotOpen) {
  std::string p = temp_path("no_such_dir/log.jsonl");
  try {
    moe::MetricsLog log(p, false);
    FAIL() << "expected moe::Error";
  } catch (const moe::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open metrics log " + p), std::string::npos)
        << e.what();
  }
}

}  // namespace
