#include "train/stop_signal.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace moe {

namespace {

// Lock-free, so reading and writing it in a signal handler is safe.
std::atomic<int> g_requested{0};
static_assert(std::atomic<int>::is_always_lock_free);

// Whether the first signal prints its note (one process of a multi-process job does).
std::atomic<bool> g_announce{true};
static_assert(std::atomic<bool>::is_always_lock_free);

struct sigaction g_previous_int, g_previous_term;

extern "C" void on_stop_signal(int signal) {
  if (g_requested.load() != 0) {
    // Only async-signal-safe calls here (signal-safety(7)): write and _exit.
    const char message[] = "\nmoe: second signal, stopping at once\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(128 + signal);
  }
  g_requested.store(signal);
  if (!g_announce.load()) return;
  const char message[] =
      "\nmoe: stopping after this step and a checkpoint (signal again to stop at once)\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, message, sizeof message - 1);
}

}  // namespace

StopOnSignals::StopOnSignals(bool announce) {
  g_requested.store(0);
  g_announce.store(announce);
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // interrupted reads and writes resume instead of failing
  // Installed even where the shell started us ignoring SIGINT (a background job), so a script
  // can stop a run gracefully with kill -INT as well.
  ::sigaction(SIGINT, &action, &g_previous_int);
  ::sigaction(SIGTERM, &action, &g_previous_term);
}

StopOnSignals::~StopOnSignals() {
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
}

int stop_requested() {
  return g_requested.load();
}

void request_stop(int signal) {
  g_requested.store(signal);
}

const char* signal_name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a signal";
  }
}

}  // namespace moe
