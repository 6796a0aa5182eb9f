#include "backends/registry.h"

#include <array>
#include <iterator>

#include "backends/cpu/backend.h"
#ifdef MOE_CUDA
#include "backends/cuda/backend.h"
#endif

namespace moe {

namespace {

// The table compiled in for `device`, whether or not this machine has the device.
const Backend* compiled_backend(Device device) {
  switch (device) {
    case Device::CPU:
      return &cpu::backend();
    case Device::CUDA:
#ifdef MOE_CUDA
      return &cuda::backend();
#else
      return nullptr;
#endif
  }
  return nullptr;
}

}  // namespace

const Backend* find_backend(Device device) {
  // Every op asks, so the devices are probed (a driver call for a GPU) once per process.
  static const auto usable = [] {
    std::array<const Backend*, std::size(kAllDevices)> found{};
    for (Device d : kAllDevices) {
      const Backend* backend = compiled_backend(d);
      if (backend != nullptr && backend->missing_device() == nullptr)
        found[static_cast<size_t>(d)] = backend;
    }
    return found;
  }();
  return usable[static_cast<size_t>(device)];
}

const char* missing_backend_reason(Device device) {
  if (const Backend* backend = compiled_backend(device)) return backend->missing_device();
  if (device == Device::CUDA)
    return "this build has no CUDA backend (configure with -DMOE_CUDA=ON on a machine with nvcc)";
  return "this build has no backend for the device";
}

}  // namespace moe
