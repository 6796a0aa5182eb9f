// Finding NaN and infinity in float data: the checks that keep them out of checkpoints name the
// tensor and the first bad element.
#pragma once
#include <cstdint>
#include <optional>

#include "core/tensor.h"

namespace moe {

struct NonFinite {
  int64_t index = 0;  // flat element index
  float value = 0.0f;
};

// The first element of an F32 CPU tensor that is NaN or infinite; nullopt when all are finite.
std::optional<NonFinite> find_non_finite(const Tensor& t);

}  // namespace moe
