#include "ops/device.h"

#include "ops/dispatch.h"

namespace moe::ops {

const DeviceMemory& device_memory(Device device) {
  return backend_for("device_memory", device).memory;
}

const char* kernel_library(Device device) {
  return backend_for("kernel_library", device).kernel_library();
}

}  // namespace moe::ops
