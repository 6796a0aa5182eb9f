// A read-only view of a token stream whose ids are stored as uint16 or 32-bit integers: an
// in-memory std::vector<int32_t> or a memory-mapped token shard, read without copying it.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

namespace moe {

struct TokenSpan {
  const void* data = nullptr;
  int64_t size = 0;  // number of ids
  int id_bytes = 4;  // 2: uint16 ids, 4: int32/uint32 ids (all < 2^31)

  static TokenSpan of(const std::vector<int32_t>& ids) {
    return {ids.data(), static_cast<int64_t>(ids.size()), 4};
  }

  int32_t operator[](int64_t i) const {
    if (id_bytes == 2) return static_cast<const uint16_t*>(data)[i];
    return static_cast<const int32_t*>(data)[i];
  }

  // out[0, n) = ids [start, start + n), widened to int32 (the caller keeps the range in bounds).
  void copy_to(int32_t* out, int64_t start, int64_t n) const {
    if (id_bytes == 2) {
      const uint16_t* src = static_cast<const uint16_t*>(data) + start;
      for (int64_t i = 0; i < n; ++i)
        out[i] = src[i];
    } else {
      std::memcpy(out, static_cast<const int32_t*>(data) + start,
                  static_cast<size_t>(n) * sizeof(int32_t));
    }
  }

  // The ids [begin, end).
  TokenSpan slice(int64_t begin, int64_t end) const {
    return {static_cast<const char*>(data) + begin * id_bytes, end - begin, id_bytes};
  }
};

}  // namespace moe
