#include "core/arena.h"

#include <algorithm>
#include <cstdint>

#include "core/check.h"

namespace moe {

namespace {
constexpr size_t kAlign = 64;
size_t round_up(size_t n) {
  MOE_CHECK(n <= SIZE_MAX - kAlign, "a buffer of ", n, " bytes cannot be allocated");
  return (n + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

Arena::Arena(const DeviceMemory& memory, size_t block_bytes, ArenaMode mode)
    : memory_(&memory), block_bytes_(block_bytes), mode_(mode) {}

Arena::~Arena() {
  for (Block& b : blocks_)
    if (b.base) memory_->free(b.base);
}

void Arena::add_block(size_t bytes) {
  bytes = round_up(bytes);
  char* base = nullptr;
  if (mode_ == ArenaMode::Allocate) {
    base = static_cast<char*>(memory_->allocate(bytes));
    MOE_CHECK(base != nullptr, "out of ", device_name(memory_->device), " memory allocating ",
              bytes, " bytes");
    memory_->zero(base, bytes);
  }
  blocks_.push_back({base, bytes, 0});
  current_ = blocks_.size() - 1;
  MOE_CHECK(!__builtin_add_overflow(reserved_total_, bytes, &reserved_total_),
            "an arena of more than 2^64 bytes cannot be allocated");
}

void Arena::reserve_contiguous(size_t bytes) {
  add_block(bytes);
}

void Arena::rewind() {
  for (Block& b : blocks_) {
    if (b.base) memory_->zero(b.base, b.used);  // alloc hands out zero-filled tensors
    b.used = 0;
  }
  current_ = 0;
  used_total_ = 0;
}

Tensor Arena::alloc(Shape shape, DType dtype) {
  size_t bytes = 0;
  MOE_CHECK(!__builtin_mul_overflow(static_cast<size_t>(shape.numel()), dtype_size(dtype), &bytes),
            "tensor ", shape.str(), " is too large to allocate");
  bytes = round_up(bytes);
  if (bytes == 0) bytes = kAlign;
  // Past a rewind the blocks after the current one are empty: take the first that fits before
  // adding one.
  while (current_ < blocks_.size() && blocks_[current_].size - blocks_[current_].used < bytes)
    ++current_;
  if (current_ == blocks_.size()) add_block(std::max(bytes, block_bytes_));
  Block& b = blocks_[current_];
  Tensor t{b.base ? b.base + b.used : nullptr, shape, dtype, memory_->device};
  b.used += bytes;
  used_total_ += bytes;
  return t;
}

}  // namespace moe
