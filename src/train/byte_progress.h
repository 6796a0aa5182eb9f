// Progress of a long pass over bytes (moe prepare), in the style of progress.h. On a terminal:
//   encoding [#####...............] 12.0M/48.0M bytes 4.56M B/s eta 8s
// redrawn in place; otherwise a plain line at every 10% and at the end of each phase.
#pragma once
#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <string>

namespace moe {

class ByteProgress {
 public:
  // Writes to std::cerr (stdout stays free for the command's JSON summary).
  ByteProgress();
  ByteProgress(std::ostream& out, bool is_terminal);
  ~ByteProgress();
  ByteProgress(const ByteProgress&) = delete;
  ByteProgress& operator=(const ByteProgress&) = delete;

  // `done` of `total` bytes of `phase` are processed; a new phase name starts a new line.
  void update(const std::string& phase, size_t done, size_t total);
  // Ends the current line.
  void finish();

 private:
  std::string status_line(size_t done, size_t total) const;

  std::ostream& out_;
  bool tty_;
  bool line_open_ = false;
  std::string phase_;
  int printed_tenths_ = -1;  // the last 10% mark printed (plain output)
  std::chrono::steady_clock::time_point t0_, last_draw_;
};

}  // namespace moe
