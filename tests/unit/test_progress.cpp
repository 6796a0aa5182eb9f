#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <sstream>
#include <string>

#include "core/check.h"
#include "train/progress.h"

namespace {

TEST(Progress, PlainModePrintsEveryNStepsAndTheLast) {
  std::ostringstream out;
  {
    moe::Progress p(25, 0, 10, out, false);
    for (int s = 1; s <= 25; ++s)
      p.step(s, 2.5f, 1e-3f, 12345.0);
    p.finish();
  }
  const std::string text = out.str();
  const std::regex line(
      R"(step (\d+)/25 loss 2\.5000 lr 1\.00e-03 12\.3k tok/s eta (\d+s|\d+m\d\ds|\d+h\d\dm)\n)");
  std::string steps;
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it)
    steps += (*it)[1].str() + ",";
  EXPECT_EQ(steps, "10,20,25,") << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
}

TEST(Progress, PlainModeMessages) {
  std::ostringstream out;
  moe::Progress p(100, 50, 10, out, false);
  p.message("eval loss 1.23");
  p.step(60, 1.0f, 1e-4f, 500.0);
  EXPECT_EQ(out.str().substr(0, 15), "eval loss 1.23\n");
  EXPECT_NE(out.str().find("step 60/100 loss 1.0000 lr 1.00e-04 500 tok/s eta "), std::string::npos)
      << out.str();
}

TEST(Progress, TerminalModeRedrawsOneLine) {
  std::ostringstream out;
  {
    moe::Progress p(10, 0, 1, out, true);
    p.step(5, 3.0f, 2e-3f, 2.5e6);
    p.message("checkpoint saved");
    p.step(10, 2.0f, 1e-3f, 2.5e6);
  }
  const std::string text = out.str();
  const std::string bar5 =
      "\r\x1b[K[##########..........] 5/10 loss 3.0000 lr 2.00e-03 2.50M tok/s eta ";
  ASSERT_EQ(text.substr(0, bar5.size()), bar5) << text;
  // The message clears the bar, prints its own line and redraws the bar below it.
  const size_t msg = text.find("\r\x1b[Kcheckpoint saved\n\r\x1b[K[##########..........] 5/10");
  EXPECT_NE(msg, std::string::npos) << text;
  EXPECT_NE(text.find("\r\x1b[K[####################] 10/10 loss 2.0000", msg), std::string::npos)
      << text;
  // finish() (via the destructor) ends the bar line exactly once.
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST(Progress, FormatHelpers) {
  EXPECT_EQ(moe::format_duration(0), "0s");
  EXPECT_EQ(moe::format_duration(42.4), "42s");
  EXPECT_EQ(moe::format_duration(182), "3m02s");
  EXPECT_EQ(moe::format_duration(3900), "1h05m");
  EXPECT_EQ(moe::format_duration(-1), "?");
  EXPECT_EQ(moe::format_rate(950), "950");
  EXPECT_EQ(moe::format_rate(12345), "12.3k");
  EXPECT_EQ(moe::format_rate(4.56e6), "4.56M");
}

TEST(Progress, RejectsBadArguments) {
  std::ostringstream out;
  EXPECT_THROW(moe::Progress(0, 0, 1, out, false), moe::Error);
  EXPECT_THROW(moe::Progress(10, 11, 1, out, false), moe::Error);
  EXPECT_THROW(moe::Progress(10, 0, 0, out, false), moe::Error);
}

}  // namespace
