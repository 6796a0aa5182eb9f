// What the layers above ops need to know of a device: its memory, for Arenas; the name of the
// kernel library its backend runs, its peak memory and its peak rate, for run records.
#pragma once
#include "core/device_memory.h"
#include "core/tensor.h"

namespace moe::ops {

// The backend's memory for `device` (Arena arena{ops::device_memory(Device::CPU)}); throws when
// this build or machine has no backend for it.
const DeviceMemory& device_memory(Device device);

// Throws "cannot run on DEVICE: REASON" (backends/registry.h missing_backend_reason) when this
// build or machine has no backend for `device`: commands call it before they write or allocate
// anything, so asking for a missing device is one clear error.
void require_device(Device device);

// The kernel library of `device`'s backend (the OpenBLAS kernel family on the CPU).
const char* kernel_library(Device device);

// The most memory the process held on `device` at once, bytes (Backend::peak_memory_bytes), or 0
// where the backend does not count it (the host).
size_t peak_memory_bytes(Device device);

// `device`'s dense rate of matrix multiplies with `math` inputs (F32 or BF16), FLOP/s
// (Backend::peak_flops), or 0 where it is unknown (the host).
double peak_flops(Device device, DType math);

}  // namespace moe::ops
