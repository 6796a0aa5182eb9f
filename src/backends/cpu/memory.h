// Host memory for the CPU backend's DeviceMemory (core/device_memory.h).
#pragma once
#include <cstddef>

namespace moe::cpu {

// `bytes` bytes aligned to 64, or nullptr when out of memory.
void* allocate(size_t bytes);
void free(void* ptr);
// Clears `bytes` bytes; large buffers are cleared by all threads.
void zero_memory(void* ptr, size_t bytes);
// memcpy that allows dst == src (nothing to do); otherwise the ranges must not overlap.
void copy_memory(void* dst, const void* src, size_t bytes);

}  // namespace moe::cpu
