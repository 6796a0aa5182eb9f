// Arena: owns one device's memory in a few large blocks and hands out tensors. All allocation
// happens while a model or trainer is being set up; a training step allocates nothing. The memory
// comes from the device's DeviceMemory (ops::device_memory(device) gives the backend's).
//
// A measuring arena (ArenaMode::Measure) holds no memory: alloc returns tensors without data
// (empty()) and the arena only adds up the blocks it would have taken. Running the code that
// allocates against measuring arenas is how a run's memory is estimated before anything is
// allocated, so the estimate is the real figure and cannot drift from it.
//
// A scratch arena is rewound between owners whose buffers are never in use at the same time (the
// model's layers, whose backward scratch is needed only while that layer runs): rewind() hands
// the same memory out again, so the arena holds the largest owner's buffers, not their sum.
#pragma once
#include <cstddef>
#include <vector>

#include "core/device_memory.h"
#include "core/tensor.h"

namespace moe {

enum class ArenaMode { Allocate, Measure };

class Arena {
 public:
  static constexpr size_t kDefaultBlockBytes = size_t{64} << 20;
  // A growing arena: each block is at least block_bytes.
  explicit Arena(const DeviceMemory& memory, size_t block_bytes = kDefaultBlockBytes,
                 ArenaMode mode = ArenaMode::Allocate);
  Arena(const DeviceMemory& memory, ArenaMode mode) : Arena(memory, kDefaultBlockBytes, mode) {}
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A zero-filled tensor, 64-byte aligned (measuring: a tensor without data).
  Tensor alloc(Shape shape, DType dtype = DType::F32);
  // One contiguous block of exactly `bytes` up front, so later allocs that fit are contiguous.
  void reserve_contiguous(size_t bytes);
  // Later allocs reuse the memory from the start: tensors handed out before and after a rewind
  // share memory, so only one generation of them may be in use at any time.
  void rewind();
  // Bytes handed out since construction or the last rewind.
  size_t bytes_allocated() const { return used_total_; }
  // The memory the arena holds (or, measuring, would hold): the sum of its blocks.
  size_t bytes_reserved() const { return reserved_total_; }
  Device device() const { return memory_->device; }
  const DeviceMemory& memory() const { return *memory_; }
  ArenaMode mode() const { return mode_; }

 private:
  struct Block {
    char* base;
    size_t size;
    size_t used;
  };
  const DeviceMemory* memory_;
  size_t block_bytes_;
  ArenaMode mode_;
  size_t used_total_ = 0;
  size_t reserved_total_ = 0;
  std::vector<Block> blocks_;
  size_t current_ = 0;  // the block allocs take from; the blocks after it are empty
  void add_block(size_t bytes);
};

}  // namespace moe
