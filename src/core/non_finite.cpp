#include "core/non_finite.h"

#include <cmath>

#include "core/check.h"

namespace moe {

std::optional<NonFinite> find_non_finite(const Tensor& t) {
  MOE_CHECK(t.device == Device::CPU, "find_non_finite needs a cpu tensor");
  const float* x = t.f32();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return NonFinite{i, x[i]};
  return std::nullopt;
}

}  // namespace moe
