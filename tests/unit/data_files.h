// Where the tests find the shared data files: $MOE_DATA_DIR, else the data directory beside the
// source tree (MOE_TEST_DATA_DIR, set by tests/CMakeLists.txt).
#pragma once
#include <cstdlib>
#include <string>

namespace moe::testing {

// data_file("tinyshakespeare/input.txt") -> ".../data/tinyshakespeare/input.txt"
inline std::string data_file(const std::string& relative) {
  const char* env = std::getenv("MOE_DATA_DIR");
  return std::string(env && *env ? env : MOE_TEST_DATA_DIR) + "/" + relative;
}

}  // namespace moe::testing
