// Shared by the fuzz targets: how a parser may reject input, and how a target states a property
// of the input a parser accepted.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/check.h"

namespace moe::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The message of the last input's rejection, "" when it was accepted (replay_main prints it, so
// a corpus run shows that the valid seeds pass).
inline std::string& last_rejection() {
  static std::string message;
  return message;
}

// Runs parse(). A moe::Error is how a parser rejects bad input, so it ends the case; any other
// exception escapes, terminates the process, and libFuzzer keeps the input as a crash.
template <typename Parse>
void parse_or_reject(Parse&& parse) {
  last_rejection().clear();
  try {
    parse();
  } catch (const Error& e) {
    last_rejection() = e.what();
  }
}

}  // namespace moe::fuzz

// FUZZ_REQUIRE(cond, what): a property that accepted input must have; when it fails, the process
// aborts with `what` on stderr and libFuzzer keeps the input as a crash.
#define FUZZ_REQUIRE(cond, what)                                                              \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "fuzz property violated: %s (%s:%d)\n", what, __FILE__, __LINE__); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)
