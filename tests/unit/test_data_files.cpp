#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <string>

#include "core/data_files.h"
#include "core/fs.h"
#include "train/train_data.h"
#include "unit/scratch.h"

namespace {

using moe::testing::error_of;
using moe::testing::ScratchDir;

// Runs a test from SCRATCH/work with MOE_DATA_DIR as given (nullopt: unset), restoring both after.
class DataFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* env = std::getenv("MOE_DATA_DIR")) saved_env_ = env;
    saved_cwd_ = std::filesystem::current_path();
    moe::make_dirs(scratch_ / "work");
    std::filesystem::current_path(scratch_ / "work");
  }
  void TearDown() override {
    std::filesystem::current_path(saved_cwd_);
    set_env(saved_env_);
  }
  static void set_env(const std::optional<std::string>& value) {
    if (value)
      ::setenv("MOE_DATA_DIR", value->c_str(), 1);
    else
      ::unsetenv("MOE_DATA_DIR");
  }
  // Creates FILE (a path relative to the scratch directory) with its parents.
  void touch(const std::string& file) {
    moe::make_dirs(std::filesystem::path(scratch_ / file).parent_path().string());
    moe::write_file_atomic(scratch_ / file, "x");
  }
  std::string find_x() const { return moe::find_data_file("sub/x.txt", "the x file", "a hint"); }

  ScratchDir scratch_;
  std::optional<std::string> saved_env_;
  std::filesystem::path saved_cwd_;
};

TEST_F(DataFilesTest, SearchesEnvThenDataThenSharedData) {
  set_env(scratch_ / "env");
  touch("shared/data/sub/x.txt");
  EXPECT_EQ(find_x(), "../shared/data/sub/x.txt");
  touch("work/data/sub/x.txt");
  EXPECT_EQ(find_x(), "./data/sub/x.txt");
  touch("env/sub/x.txt");
  EXPECT_EQ(find_x(), scratch_ / "env" + "/sub/x.txt");
}

TEST_F(DataFilesTest, EmptyOrUnsetEnvIsSkipped) {
  touch("work/data/sub/x.txt");
  set_env("");
  EXPECT_EQ(find_x(), "./data/sub/x.txt");
  set_env(std::nullopt);
  EXPECT_EQ(find_x(), "./data/sub/x.txt");
}

TEST_F(DataFilesTest, MissingEverywhereNamesEachPlace) {
  set_env("/nonexistent");
  EXPECT_EQ(error_of([&] { find_x(); }),
            "cannot find the x file: looked in /nonexistent/sub/x.txt, ./data/sub/x.txt, "
            "../shared/data/sub/x.txt (a hint)");
  set_env(std::nullopt);
  EXPECT_EQ(
      error_of([&] { find_x(); }),
      "cannot find the x file: looked in ./data/sub/x.txt, ../shared/data/sub/x.txt (a hint)");
}

TEST_F(DataFilesTest, ShakespeareUsesTheSameSearch) {
  set_env(std::nullopt);
  EXPECT_EQ(error_of([] { moe::find_shakespeare(moe::DataConfig{}); }),
            "cannot find Tiny Shakespeare: looked in ./data/tinyshakespeare/input.txt, "
            "../shared/data/tinyshakespeare/input.txt (set data.path, or fetch it with "
            "scripts/get_data.sh)");
  touch("shared/data/tinyshakespeare/input.txt");
  EXPECT_EQ(moe::find_shakespeare(moe::DataConfig{}), "../shared/data/tinyshakespeare/input.txt");
  moe::DataConfig explicit_path;
  explicit_path.path = "any/file.txt";
  EXPECT_EQ(moe::find_shakespeare(explicit_path), "any/file.txt");
}

}  // namespace
