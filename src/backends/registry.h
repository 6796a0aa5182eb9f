// The one place that maps a device to its kernel table. Backends are listed explicitly (no
// static-initialiser registration, which a static library would drop at link time).
#pragma once
#include "backends/backend.h"

namespace moe {

// The backend that runs `device`, or nullptr when this build has none for it or this machine has
// no such device (missing_backend_reason says which).
const Backend* find_backend(Device device);

// Why find_backend(device) is nullptr, or nullptr when it is not.
const char* missing_backend_reason(Device device);

}  // namespace moe
