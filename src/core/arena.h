// Arena: owns device memory in a few large blocks and hands out tensors. All allocation happens
// while a model or trainer is being set up; a training step allocates nothing.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace moe {

class Arena {
 public:
  // A growing arena: each block is at least block_bytes.
  explicit Arena(Device device = Device::CPU, size_t block_bytes = size_t{64} << 20);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A zero-filled tensor, 64-byte aligned.
  Tensor alloc(Shape shape, DType dtype = DType::F32);
  // One contiguous block of exactly `bytes` up front, so later allocs that fit are contiguous.
  void reserve_contiguous(size_t bytes);
  size_t bytes_allocated() const { return used_total_; }
  Device device() const { return device_; }

 private:
  struct Block {
    char* base;
    size_t size;
    size_t used;
  };
  Device device_;
  size_t block_bytes_;
  size_t used_total_ = 0;
  std::vector<Block> blocks_;
  void add_block(size_t bytes);
};

}  // namespace moe
