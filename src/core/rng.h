// Counter-based random numbers: every draw is a pure function of (seed, stream, index), so
// results do not depend on thread count or scheduling, and a resumed run reproduces exactly the
// numbers of an uninterrupted one (its state is just the seed and the step).
// Mixing function: SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014).
#pragma once
#include <cstdint>

// The pure draws below are also called from CUDA kernels (backends/cuda), so that every device
// draws the same numbers for the same (key, index).
#include "core/host_device.h"

namespace moe {

MOE_HOST_DEVICE inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A stream key derived from a seed and any number of integers (step, layer, site, ...).
inline uint64_t rng_key(uint64_t seed) {
  return splitmix64(seed);
}
template <typename... Rest>
uint64_t rng_key(uint64_t seed, uint64_t first, Rest... rest) {
  return rng_key(splitmix64(seed ^ splitmix64(first + 0x632BE59BD9B4E019ull)), rest...);
}

MOE_HOST_DEVICE inline uint64_t rng_bits(uint64_t key, uint64_t index) {
  return splitmix64(key ^ splitmix64(index));
}

// Uniform in [0, 1) with 24 random bits.
MOE_HOST_DEVICE inline float rng_uniform(uint64_t key, uint64_t index) {
  return static_cast<float>(rng_bits(key, index) >> 40) * (1.0f / 16777216.0f);
}

// Dropout keep decision with 16-bit resolution: element i uses 16-bit lane i % 4 of the draw
// rng_bits(key, i / 4), so one draw serves four elements. P(drop) = floor(p * 65536) / 65536.
MOE_HOST_DEVICE inline uint32_t dropout_threshold(float p) {
  return static_cast<uint32_t>(p * 65536.0f);
}
MOE_HOST_DEVICE inline bool rng_keep(uint64_t key, uint64_t index, uint32_t threshold) {
  const uint64_t bits = rng_bits(key, index >> 2);
  return ((bits >> ((index & 3) * 16)) & 0xFFFF) >= threshold;
}

// The same decisions as rng_keep, caching the draw shared by four consecutive indices (for
// kernels that walk indices in order).
class KeepMask {
 public:
  KeepMask(uint64_t key, float p) : key_(key), threshold_(dropout_threshold(p)) {}
  bool keep(uint64_t index) {
    if ((index >> 2) != block_) {
      block_ = index >> 2;
      bits_ = rng_bits(key_, block_);
    }
    return ((bits_ >> ((index & 3) * 16)) & 0xFFFF) >= threshold_;
  }

 private:
  uint64_t key_;
  uint32_t threshold_;
  uint64_t block_ = ~uint64_t{0};
  uint64_t bits_ = 0;
};

// Standard normal (Box-Muller on two independent uniforms).
float rng_normal(uint64_t key, uint64_t index);

// Sequential generator for host-side decisions (batch offsets, sampling).
struct Rng {
  uint64_t key;
  uint64_t counter = 0;
  explicit Rng(uint64_t k) : key(k) {}
  uint64_t next_u64() { return rng_bits(key, counter++); }
  float uniform() { return rng_uniform(key, counter++); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n ? next_u64() % n : 0; }
};

}  // namespace moe
