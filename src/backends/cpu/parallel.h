// When a CPU kernel's loop is worth a parallel region.
#pragma once
#include <cstdint>

namespace moe::cpu {

// Below this many elements of work a loop runs on one thread: starting a team of threads costs
// more than it saves. Every kernel uses this one threshold (`if (work > kParallelMin)`).
inline constexpr int64_t kParallelMin = int64_t{1} << 15;

// The work of one element that calls exp or log (glibc's scalar functions, some tens of cycles)
// in units of the threshold's elements (a load, an add and a store, a fraction of a cycle when
// vectorized). Kernels whose every element makes such a call (the router's softplus and losses,
// normal draws) weigh their elements by it, so that the 4096 router scores of a 512-token batch
// are split over the threads.
inline constexpr int64_t kTranscendentalWork = 16;

}  // namespace moe::cpu
