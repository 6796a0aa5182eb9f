#include "train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "core/check.h"

namespace moe {
namespace {

constexpr int kBarWidth = 20;
// Redrawing faster than this only costs terminal time.
constexpr std::chrono::milliseconds kRedrawInterval{100};
// Return to column 0 and clear to the end of the line (ANSI/VT100 "EL").
constexpr const char* kClearLine = "\r\x1b[K";

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  return buf;
}

std::string format_rate(double per_second) {
  char buf[32];
  if (!std::isfinite(per_second) || per_second < 0)
    return "?";
  else if (per_second < 1e3)
    std::snprintf(buf, sizeof buf, "%.0f", per_second);
  else if (per_second < 1e6)
    std::snprintf(buf, sizeof buf, "%.1fk", per_second / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2fM", per_second / 1e6);
  return buf;
}

Progress::Progress(int64_t total_steps, int64_t start_step, int64_t print_every)
    : Progress(total_steps, start_step, print_every, std::cout, ::isatty(STDOUT_FILENO) == 1) {}

Progress::Progress(int64_t total_steps, int64_t start_step, int64_t print_every, std::ostream& out,
                   bool is_terminal)
    : total_(total_steps),
      start_(start_step),
      every_(print_every),
      out_(out),
      tty_(is_terminal),
      t0_(std::chrono::steady_clock::now()) {
  MOE_CHECK(total_steps > 0, "progress: total steps must be positive, got ", total_steps);
  MOE_CHECK(start_step >= 0 && start_step <= total_steps, "progress: start step ", start_step,
            " is outside [0, ", total_steps, "]");
  MOE_CHECK(print_every > 0, "progress: print interval must be positive, got ", print_every);
}

Progress::~Progress() {
  finish();
}

std::string Progress::status_line(int64_t step, float loss, float lr, double tokens_per_s) const {
  // The ETA extrapolates the average time per step of this run (not counting resumed steps).
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  const int64_t done = step - start_;
  const double eta =
      done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - step) : NAN;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%lld/%lld loss %.4f lr %.2e %s tok/s eta %s",
                static_cast<long long>(step), static_cast<long long>(total_), loss, lr,
                format_rate(tokens_per_s).c_str(), format_duration(eta).c_str());
  return buf;
}

void Progress::step(int64_t step, float loss, float lr, double tokens_per_s) {
  if (!tty_) {
    if (step % every_ == 0 || step == total_)
      out_ << "step " << status_line(step, loss, lr, tokens_per_s) << '\n' << std::flush;
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (bar_visible_ && step != total_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  const double frac = std::clamp(static_cast<double>(step) / static_cast<double>(total_), 0.0, 1.0);
  const int filled = static_cast<int>(frac * kBarWidth);
  bar_.assign(1, '[');
  bar_.append(filled, '#').append(kBarWidth - filled, '.').append("] ");
  bar_ += status_line(step, loss, lr, tokens_per_s);
  draw_bar();
}

void Progress::draw_bar() {
  out_ << kClearLine << bar_ << std::flush;
  bar_visible_ = true;
}

void Progress::message(const std::string& line) {
  if (!tty_) {
    out_ << line << '\n' << std::flush;
    return;
  }
  if (bar_visible_) out_ << kClearLine;
  out_ << line << '\n';
  if (!bar_.empty()) draw_bar();
  out_ << std::flush;
}

void Progress::finish() {
  if (tty_ && bar_visible_) out_ << '\n' << std::flush;
  bar_visible_ = false;
  bar_.clear();
}

}  // namespace moe
