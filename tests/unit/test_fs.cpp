#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "unit/scratch.h"

namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed afterwards.
class FsTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_ / name; }
  moe::testing::ScratchDir scratch_;
};

TEST_F(FsTest, WriteThenReadRoundTrips) {
  std::string bytes("a\0b\xff\n", 5);
  moe::write_file_atomic(path("x.bin"), bytes);
  EXPECT_EQ(moe::read_file(path("x.bin")), bytes);
  EXPECT_TRUE(moe::file_exists(path("x.bin")));
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(scratch_.path()), fs::directory_iterator()), 1);
}

TEST_F(FsTest, AtomicWriteReplacesExistingFile) {
  moe::write_file_atomic(path("x"), "old contents");
  moe::write_file_atomic(path("x"), "new");
  EXPECT_EQ(moe::read_file(path("x")), "new");
}

TEST_F(FsTest, EmptyFileRoundTrips) {
  moe::write_file_atomic(path("empty"), "");
  EXPECT_EQ(moe::read_file(path("empty")), "");
}

TEST_F(FsTest, ReadMissingFileNamesIt) {
  try {
    moe::read_file(path("missing.txt"));
    FAIL() << "expected moe::Error";
  } catch (const moe::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot open " + path("missing.txt") + ": No such file or directory");
  }
}

// Every reader refuses what is not a regular file: a FIFO would block, /dev/zero never ends.
TEST_F(FsTest, EveryReaderRefusesNonRegularFiles) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {scratch_.str(), "a directory"},
      {path("fifo"), "a FIFO"},
      {"/dev/zero", "a character device"},
      {"/dev/null", "a character device"}};
  for (const auto& [p, kind] : cases) {
    const std::string expected = "cannot read " + p + ": it is " + kind + ", not a regular file";
    EXPECT_EQ(moe::testing::error_of([&] { moe::read_file(p); }), expected);
    EXPECT_EQ(moe::testing::error_of([&] { moe::MappedFile{p}; }), expected);
    EXPECT_EQ(moe::testing::error_of([&] { moe::ReadableFile{p}; }), expected);
  }
}

// The rename would turn a FIFO or device (as root, /dev/null) into a regular file.
TEST_F(FsTest, AtomicWriteNeverReplacesAFifo) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  EXPECT_EQ(moe::testing::error_of([&] { moe::write_file_atomic(path("fifo"), "data"); }),
            "cannot write " + path("fifo") + ": it is a FIFO, not a regular file");
  EXPECT_TRUE(fs::is_fifo(path("fifo")));
  EXPECT_EQ(std::distance(fs::directory_iterator(scratch_.path()), fs::directory_iterator()), 1);
}

TEST_F(FsTest, ReadableFileReadsAtOffsetsAndSeesTruncation) {
  moe::write_file_atomic(path("f"), "0123456789");
  const moe::ReadableFile f(path("f"));
  EXPECT_EQ(f.size(), 10u);
  char buf[4] = {};
  ASSERT_TRUE(f.read_at(3, buf, 4));
  EXPECT_EQ(std::string(buf, 4), "3456");
  EXPECT_FALSE(f.read_at(8, buf, 4));  // past the end
  fs::resize_file(path("f"), 5);       // truncated after it was opened
  EXPECT_FALSE(f.read_at(3, buf, 4));
  EXPECT_EQ(f.size(), 10u);
}

TEST_F(FsTest, WriteIntoMissingDirectoryThrows) {
  EXPECT_THROW(moe::write_file_atomic(path("no/such/dir/x"), "data"), moe::Error);
  EXPECT_FALSE(moe::file_exists(path("no")));
}

TEST_F(FsTest, FailedRenameLeavesTargetAndRemovesTemp) {
  // A directory in the target's place makes the final rename fail after the temp file was written.
  fs::create_directories(path("target/inner"));
  EXPECT_THROW(moe::write_file_atomic(path("target"), "data"), moe::Error);
  EXPECT_TRUE(fs::is_directory(path("target/inner")));
  EXPECT_FALSE(moe::file_exists(path("target") + ".tmp." + std::to_string(::getpid())));
}

TEST_F(FsTest, MakeDirsCreatesParentsAndIsIdempotent) {
  moe::make_dirs(path("a/b/c"));
  EXPECT_TRUE(fs::is_directory(path("a/b/c")));
  moe::make_dirs(path("a/b/c"));
  moe::write_file_atomic(path("a/b/c/f"), "x");
  EXPECT_EQ(moe::read_file(path("a/b/c/f")), "x");
}

TEST_F(FsTest, MakeDirsOverFileThrows) {
  moe::write_file_atomic(path("file"), "x");
  EXPECT_THROW(moe::make_dirs(path("file")), moe::Error);
  EXPECT_THROW(moe::make_dirs(path("file/sub")), moe::Error);
}

TEST_F(FsTest, FileExists) {
  EXPECT_FALSE(moe::file_exists(path("nope")));
  EXPECT_TRUE(moe::file_exists(scratch_.str()));
}

}  // namespace
