// Graceful stop on SIGINT and SIGTERM. While a StopOnSignals object lives, the first such signal
// only records that a stop was asked for: the training loop finishes its step, saves a checkpoint
// and returns (train/trainer.h). A second signal ends the process at once with status
// 128 + signal; that damages nothing, because a checkpoint save is atomic (model/checkpoint.h).
#pragma once

namespace moe {

class StopOnSignals {
 public:
  // Installs the handlers and clears any earlier request; `announce`: the first signal prints a
  // note on stderr (the second one always does).
  explicit StopOnSignals(bool announce = true);
  ~StopOnSignals();  // restores the previous handlers
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;
};

// The signal (SIGINT, SIGTERM) that asked the run to stop, or 0.
int stop_requested();

// Asks for a stop as a first signal does; 0 withdraws the request (tests).
void request_stop(int signal);

// "SIGINT", "SIGTERM", or "a signal".
const char* signal_name(int signal);

}  // namespace moe
