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

}  // namespace moe::ops
