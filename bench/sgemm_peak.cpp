// sgemm_peak [--threads T] [--size N]: the machine's measured single-precision GEMM rate
// (OpenBLAS sgemm through the CPU backend's BLAS wrapper on N x N matrices, median of repeated
// runs), the ceiling against which the training benchmark reports moe.cpp's effective GFLOP/s.
// Prints one JSON line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backends/cpu/blas.h"
#include "core/threads.h"

int main(int argc, char** argv) {
  int threads = 0;
  int n = 2048;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--size") == 0) n = std::atoi(argv[i + 1]);
  }
  moe::set_num_threads(threads);
  std::vector<float> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
    b[i] = static_cast<float>((i * 104729) % 1000) / 1000.0f - 0.5f;
  }
  auto run = [&] {
    moe::cpu::gemm(CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                   c.data(), n);
  };
  run();  // warm-up: thread start, page faults
  std::vector<double> seconds;
  for (int r = 0; r < 7; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  const double gflops = 2.0 * n * static_cast<double>(n) * n / seconds[seconds.size() / 2] / 1e9;
  std::printf("{\"sgemm_gflops\": %.1f, \"size\": %d, \"threads\": %d, \"blas\": \"%s\"}\n", gflops,
              n, moe::num_threads(), moe::cpu::blas_kernels());
  return 0;
}
