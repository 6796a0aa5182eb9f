#include "ops/device.h"

#include "backends/registry.h"
#include "core/check.h"
#include "ops/dispatch.h"

namespace moe::ops {

const DeviceMemory& device_memory(Device device) {
  return backend_for("device_memory", device).memory;
}

void require_device(Device device) {
  if (find_backend(device) == nullptr)
    fail("cannot run on ", device_name(device), ": ", missing_backend_reason(device));
}

const char* kernel_library(Device device) {
  return backend_for("kernel_library", device).kernel_library();
}

size_t peak_memory_bytes(Device device) {
  const Backend& backend = backend_for("peak_memory_bytes", device);
  return backend.peak_memory_bytes != nullptr ? backend.peak_memory_bytes() : 0;
}

double peak_flops(Device device, DType math) {
  const Backend& backend = backend_for("peak_flops", device);
  return backend.peak_flops != nullptr ? backend.peak_flops(math) : 0.0;
}

}  // namespace moe::ops
