// How one device's memory is allocated, cleared and copied. Each backend provides one
// (backends/<device>/memory.cpp) in its kernel table; an Arena is built on one, which is how core
// gets device memory without depending on any backend.
#pragma once
#include <cstddef>

#include "core/tensor.h"

namespace moe {

struct DeviceMemory {
  Device device;
  // `bytes` bytes aligned to 64 (contents undefined), or nullptr when the device has no room.
  void* (*allocate)(size_t bytes);
  void (*free)(void* ptr);
  // Sets `bytes` bytes at ptr (device memory) to zero.
  void (*zero)(void* ptr, size_t bytes);
  // dst (device) = src (host), bytes bytes.
  void (*copy_to_device)(void* dst, const void* src, size_t bytes);
  // dst (host) = src (device), bytes bytes.
  void (*copy_to_host)(void* dst, const void* src, size_t bytes);
  // dst (device) = src (device), bytes bytes; the ranges are equal or do not overlap.
  void (*copy_on_device)(void* dst, const void* src, size_t bytes);
};

}  // namespace moe
