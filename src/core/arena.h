// Arena: owns one device's memory in a few large blocks and hands out tensors. All allocation
// happens while a model or trainer is being set up; a training step allocates nothing. The memory
// comes from the device's DeviceMemory (ops::device_memory(device) gives the backend's).
#pragma once
#include <cstddef>
#include <vector>

#include "core/device_memory.h"
#include "core/tensor.h"

namespace moe {

class Arena {
 public:
  // A growing arena: each block is at least block_bytes.
  explicit Arena(const DeviceMemory& memory, size_t block_bytes = size_t{64} << 20);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A zero-filled tensor, 64-byte aligned.
  Tensor alloc(Shape shape, DType dtype = DType::F32);
  // One contiguous block of exactly `bytes` up front, so later allocs that fit are contiguous.
  void reserve_contiguous(size_t bytes);
  size_t bytes_allocated() const { return used_total_; }
  Device device() const { return memory_->device; }

 private:
  struct Block {
    char* base;
    size_t size;
    size_t used;
  };
  const DeviceMemory* memory_;
  size_t block_bytes_;
  size_t used_total_ = 0;
  std::vector<Block> blocks_;
  void add_block(size_t bytes);
};

}  // namespace moe
