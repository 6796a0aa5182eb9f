// Encoding speed of a tokenizer on a file: one warm-up pass, then the best of R timed passes.
// With --threads 1 it times Tokenizer::encode itself; with more it times encode_parallel.
// Prints one JSON line: bytes, tokens, threads, seconds, mb_per_s (10^6 bytes per second).
// Run: build/bench/tokenizer_throughput --tokenizer gpt2 FILE [--threads T] [--repeats R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/check.h"
#include "core/fs.h"
#include "core/threads.h"
#include "tokenizer/parallel_encode.h"
#include "tokenizer/tokenizer.h"

namespace {

struct Args {
  std::string tokenizer = "gpt2", file;
  int threads = 1, repeats = 3;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const auto value = [&]() -> std::string {
      MOE_CHECK(i + 1 < argc, argv[i], " needs a value");
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--tokenizer"))
      a.tokenizer = value();
    else if (!std::strcmp(argv[i], "--threads"))
      a.threads = std::stoi(value());
    else if (!std::strcmp(argv[i], "--repeats"))
      a.repeats = std::stoi(value());
    else
      a.file = argv[i];
  }
  MOE_CHECK(!a.file.empty(),
            "usage: tokenizer_throughput [--tokenizer SPEC] FILE [--threads T] "
            "[--repeats R]");
  if (a.threads <= 0) a.threads = moe::num_threads();
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    const auto tok = moe::open_tokenizer(a.tokenizer);
    const std::string text = moe::read_file(a.file);
    const auto encode = [&] {
      return a.threads == 1 ? tok->encode(text) : moe::encode_parallel(*tok, text, a.threads);
    };
    size_t tokens = encode().size();
    double best = 1e30;
    for (int r = 0; r < a.repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      tokens = encode().size();
      best = std::min(
          best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf(
        "{\"bytes\": %zu, \"tokens\": %zu, \"threads\": %d, \"seconds\": %.6f, \"mb_per_s\": "
        "%.3f}\n",
        text.size(), tokens, a.threads, best, static_cast<double>(text.size()) / best / 1e6);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
