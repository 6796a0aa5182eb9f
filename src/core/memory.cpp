#include "core/memory.h"

#include <cstdio>
#include <sstream>

#include "core/check.h"
#include "core/fs.h"

namespace moe {

namespace {

// The first number in a file ("max" or anything unreadable: nullopt).
// A file that is absent or not regular reads as nothing: the limit it would hold is unknown.
std::optional<std::string> read_if_present(const std::string& path) {
  if (!file_exists(path)) return std::nullopt;
  try {
    return read_file(path);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::optional<uint64_t> read_number(const std::string& path) {
  const auto text = read_if_present(path);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  uint64_t value = 0;
  if (!(in >> value)) return std::nullopt;
  return value;
}

// MemAvailable in bytes (the kernel's estimate of memory that can be allocated without swapping;
// proc(5)).
std::optional<uint64_t> mem_available(const std::string& meminfo) {
  const auto text = read_if_present(meminfo);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

// The cgroup's limit minus its usage: v2 first, then v1. A v1 "no limit" is a huge number, which
// the caller's min() ignores.
std::optional<AvailableMemory> cgroup_headroom(const std::string& root) {
  for (const auto& [limit_file, usage_file] :
       {std::pair{root + "/memory.max", root + "/memory.current"},
        {root + "/memory/memory.limit_in_bytes", root + "/memory/memory.usage_in_bytes"}}) {
    const auto limit = read_number(limit_file), usage = read_number(usage_file);
    if (!limit || !usage) continue;
    return AvailableMemory{*limit > *usage ? *limit - *usage : 0,
                           "the cgroup limit " + format_bytes(static_cast<double>(*limit)) +
                               " in " + limit_file + ", less what is in use"};
  }
  return std::nullopt;
}

}  // namespace

double MemoryUse::total() const {
  return static_cast<double>(weights) + static_cast<double>(optimizer) +
         static_cast<double>(activations);
}

std::string MemoryUse::str() const {
  std::string out = format_bytes(total()) + " (weights and gradients " +
                    format_bytes(static_cast<double>(weights));
  if (optimizer > 0) out += ", optimizer state " + format_bytes(static_cast<double>(optimizer));
  return out + ", activations " + format_bytes(static_cast<double>(activations)) + ")";
}

std::optional<AvailableMemory> available_memory(const std::string& meminfo,
                                                const std::string& cgroup_root) {
  std::optional<AvailableMemory> best;
  if (const auto bytes = mem_available(meminfo))
    best = AvailableMemory{*bytes, "MemAvailable in " + meminfo};
  const auto cgroup = cgroup_headroom(cgroup_root);
  if (cgroup && (!best || cgroup->bytes < best->bytes)) best = cgroup;
  return best;
}

void require_memory(const MemoryUse& need, const std::optional<AvailableMemory>& available,
                    const std::string& what, const std::string& fix) {
  if (!available || need.total() <= static_cast<double>(available->bytes)) return;
  fail(what, " needs about ", need.str(), " but only ",
       format_bytes(static_cast<double>(available->bytes)), " is available (", available->source,
       "); ", fix);
}

std::string format_bytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 6) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", bytes, kUnits[unit]);
  return text;
}

}  // namespace moe
