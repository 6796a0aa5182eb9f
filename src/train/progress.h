// Training progress display. On a terminal: one bar line redrawn in place,
//   [#####.........] 120/5000 loss 2.3100 lr 9.80e-04 12.3k tok/s eta 3m02s
// otherwise (a log file, a pipe): a plain line every print_every steps and at the last step.
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace moe {

// "42s", "3m02s", "1h05m": a compact duration for an ETA.
std::string format_duration(double seconds);
// "950", "12.3k", "4.56M": a compact rate.
std::string format_rate(double per_second);

class Progress {
 public:
  // Writes to std::cout, as a bar when stdout is a terminal.
  Progress(int64_t total_steps, int64_t start_step, int64_t print_every);
  Progress(int64_t total_steps, int64_t start_step, int64_t print_every, std::ostream& out,
           bool is_terminal);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Reports that `step` steps of total_steps are done.
  void step(int64_t step, float loss, float lr, double tokens_per_s);
  // Prints a full line (an eval result, a checkpoint notice) without corrupting the bar.
  void message(const std::string& line);
  // Ends the bar line; called by the destructor if not before.
  void finish();

 private:
  std::string status_line(int64_t step, float loss, float lr, double tokens_per_s) const;
  void draw_bar();

  int64_t total_, start_, every_;
  std::ostream& out_;
  bool tty_;
  bool bar_visible_ = false;
  std::string bar_;  // the last bar drawn, redrawn after a message
  std::chrono::steady_clock::time_point t0_, last_draw_;
};

}  // namespace moe
