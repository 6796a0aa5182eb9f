// A run's memory, by purpose, against what the machine has left: runs that would not fit are
// refused before they allocate, instead of being killed by the kernel part way.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace moe {

// Bytes a run holds in its arenas (core/arena.h); data, tokenizer and library buffers come on top.
struct MemoryUse {
  uint64_t weights = 0;      // parameter values and gradients
  uint64_t optimizer = 0;    // AdamW moments
  uint64_t activations = 0;  // saved activations, scratch, batch and KV-cache buffers

  double total() const;     // a double: absurd configurations do not wrap around
  std::string str() const;  // "1.25 GiB (weights and gradients 512 MiB, ...)"
};

struct AvailableMemory {
  uint64_t bytes = 0;
  std::string source;  // where the figure comes from, for messages
};

// MemAvailable from /proc/meminfo, or the cgroup's limit minus its usage when that is lower
// (v2: memory.max, memory.current; v1: memory.limit_in_bytes, memory.usage_in_bytes under
// cgroup_root/memory). nullopt when none can be read (not Linux).
std::optional<AvailableMemory> available_memory(const std::string& meminfo = "/proc/meminfo",
                                                const std::string& cgroup_root = "/sys/fs/cgroup");

// Throws "WHAT needs about X (...) but only Y is available (SOURCE); FIX" when `need` exceeds
// `available`; passes when available memory is unknown.
void require_memory(const MemoryUse& need, const std::optional<AvailableMemory>& available,
                    const std::string& what, const std::string& fix);

// "950 B", "12.0 KiB", "1.25 GiB".
std::string format_bytes(double bytes);

}  // namespace moe
