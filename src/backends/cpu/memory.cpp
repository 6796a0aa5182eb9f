#include "backends/cpu/memory.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "backends/cpu/parallel.h"
#include "core/threads.h"

namespace moe::cpu {

namespace {
constexpr size_t kAlign = 64;
}  // namespace

void* allocate(size_t bytes) {
  // aligned_alloc wants a multiple of the alignment.
  return std::aligned_alloc(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
}

void free(void* ptr) {
  std::free(ptr);
}

void zero_memory(void* ptr, size_t bytes) {
  // Zeroing (the gradients at every step) goes through memset, which writes large buffers with
  // streaming stores that skip reading the old contents; each thread clears one slice.
  char* p = static_cast<char*>(ptr);
  const int64_t n = static_cast<int64_t>(bytes);
  const int64_t slices = n > kParallelMin * int64_t{sizeof(float)} ? num_threads() : 1;
#pragma omp parallel for if (slices > 1)
  for (int64_t k = 0; k < slices; ++k) {
    const int64_t begin = n * k / slices, end = n * (k + 1) / slices;
    std::memset(p + begin, 0, static_cast<size_t>(end - begin));
  }
}

void copy_memory(void* dst, const void* src, size_t bytes) {
  if (dst == src || bytes == 0) return;
  std::memcpy(dst, src, bytes);
}

}  // namespace moe::cpu
