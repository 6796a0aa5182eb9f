#include "train/byte_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "train/progress.h"

namespace moe {
namespace {

constexpr int kBarWidth = 20;
constexpr std::chrono::milliseconds kRedrawInterval{100};
constexpr const char* kClearLine = "\r\x1b[K";  // ANSI "EL", as progress.cpp

// "12.0M" for a byte count (format_rate's units).
std::string format_bytes(size_t n) {
  return format_rate(static_cast<double>(n));
}

}  // namespace

ByteProgress::ByteProgress() : ByteProgress(std::cerr, ::isatty(STDERR_FILENO) == 1) {}

ByteProgress::ByteProgress(std::ostream& out, bool is_terminal) : out_(out), tty_(is_terminal) {}

ByteProgress::~ByteProgress() {
  finish();
}

std::string ByteProgress::status_line(size_t done, size_t total) const {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total - std::min(done, total)) / rate : -1.0;
  return format_bytes(done) + "/" + format_bytes(total) + " bytes " + format_rate(rate) +
         " B/s eta " + format_duration(eta);
}

void ByteProgress::update(const std::string& phase, size_t done, size_t total) {
  const auto now = std::chrono::steady_clock::now();
  if (phase != phase_) {
    finish();
    phase_ = phase;
    t0_ = now;
    printed_tenths_ = -1;
  }
  const double frac =
      total > 0 ? std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0)
                : 1.0;
  if (!tty_) {
    const int tenths = static_cast<int>(frac * 10);
    if (tenths == printed_tenths_) return;
    printed_tenths_ = tenths;
    out_ << phase_ << " " << status_line(done, total) << '\n' << std::flush;
    return;
  }
  if (line_open_ && done < total && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  const int filled = static_cast<int>(frac * kBarWidth);
  out_ << kClearLine << phase_ << " [" << std::string(static_cast<size_t>(filled), '#')
       << std::string(static_cast<size_t>(kBarWidth - filled), '.') << "] "
       << status_line(done, total) << std::flush;
  line_open_ = true;
}

void ByteProgress::finish() {
  if (tty_ && line_open_) out_ << '\n' << std::flush;
  line_open_ = false;
  phase_.clear();
}

}  // namespace moe
