// CUDA device memory for the kernel table (core/device_memory.h): cudaMalloc'd buffers, cleared
// and copied on the default stream, so they are ordered with every kernel.
#pragma once
#include <cstddef>

namespace moe::cuda {

// `bytes` bytes (cudaMalloc aligns to at least 256), or nullptr when the device is out of memory.
void* allocate(size_t bytes);
void free(void* ptr);
void zero_memory(void* ptr, size_t bytes);
// dst (device) = src (host); returns once src may be reused.
void copy_to_device(void* dst, const void* src, size_t bytes);
// dst (host) = src (device); waits for the kernels before it (the host's one synchronisation).
void copy_to_host(void* dst, const void* src, size_t bytes);
// dst (device) = src (device), queued on the default stream.
void copy_on_device(void* dst, const void* src, size_t bytes);

// Backend::peak_memory_bytes: the peak of the bytes allocate() handed out and not yet freed, plus
// the high-water mark of the default memory pool, from which Scratch draws.
size_t peak_memory_bytes();

}  // namespace moe::cuda
