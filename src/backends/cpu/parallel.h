// When a CPU kernel's loop is worth a parallel region.
#pragma once
#include <cstdint>

namespace moe::cpu {

// Below this many elements of work a loop runs on one thread: starting a team of threads costs
// more than it saves. Every kernel uses this one threshold (`if (work > kParallelMin)`).
inline constexpr int64_t kParallelMin = int64_t{1} << 15;

}  // namespace moe::cpu
