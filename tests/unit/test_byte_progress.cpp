#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "train/byte_progress.h"

namespace moe {
namespace {

int count_lines(const std::string& s, const std::string& prefix) {
  int n = 0;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);)
    n += line.rfind(prefix, 0) == 0;
  return n;
}

TEST(ByteProgress, PlainOutputPrintsEveryTenthOnce) {
  std::ostringstream out;
  {
    ByteProgress p(out, /*is_terminal=*/false);
    for (size_t done = 0; done <= 1000; done += 5)
      p.update("encoding", done, 1000);
    p.update("writing", 10, 10);
  }
  const std::string s = out.str();
  EXPECT_EQ(count_lines(s, "encoding "), 11) << s;  // 0%, 10%, ..., 100%
  EXPECT_EQ(count_lines(s, "writing "), 1) << s;
  EXPECT_NE(s.find("1.0k/1.0k bytes"), std::string::npos) << s;
  EXPECT_EQ(s.find('\r'), std::string::npos);  // no terminal control codes in a log
}

TEST(ByteProgress, TerminalBarIsRedrawnInPlace) {
  std::ostringstream out;
  {
    ByteProgress p(out, /*is_terminal=*/true);
    p.update("vocabulary", 0, 100);
    p.update("vocabulary", 100, 100);
    p.update("encoding", 100, 100);
  }
  const std::string s = out.str();
  EXPECT_NE(s.find("vocabulary [....................] 0/100 bytes"), std::string::npos) << s;
  EXPECT_NE(s.find("vocabulary [####################] 100/100 bytes"), std::string::npos) << s;
  EXPECT_NE(s.find("encoding [####################]"), std::string::npos) << s;
  EXPECT_EQ(s.back(), '\n');  // each phase's line is ended
  EXPECT_EQ(count_lines(s, "\r\x1b[Kencoding"), 1) << s;
}

}  // namespace
}  // namespace moe
