// Runs a fuzz target on the files named on the command line (directories: every file in them),
// without libFuzzer: the committed seed corpus and crash regressions become ordinary tests in
// every build, including the sanitizer build. Exits non-zero only through the target's own abort.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/fs.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(argv[i]))
        if (entry.is_regular_file()) files.push_back(entry.path().string());
    } else {
      files.push_back(argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "error: no input files\n");
    return 1;
  }
  for (const std::string& file : files) {
    std::printf("%s: ", file.c_str());
    std::fflush(stdout);
    // A copy of exactly the file's size, so the sanitizers see reads past its end.
    const std::string bytes = moe::read_file(file);
    std::vector<uint8_t> input(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(input.data(), input.size());
    const std::string& rejection = moe::fuzz::last_rejection();
    std::printf("%s%s\n", rejection.empty() ? "accepted" : "rejected: ", rejection.c_str());
  }
  std::printf("%zu inputs\n", files.size());
  return 0;
}
