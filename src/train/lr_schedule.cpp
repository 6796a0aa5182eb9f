#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace moe {

float lr_at(const TrainConfig& cfg, int64_t step) {
  if (step < cfg.warmup_steps)
    return cfg.lr * static_cast<float>(step + 1) / static_cast<float>(cfg.warmup_steps);
  if (cfg.lr_schedule == "constant") return cfg.lr;
  const int64_t decay_steps = std::max<int64_t>(1, cfg.steps - cfg.warmup_steps);
  const double progress = std::min(
      1.0, static_cast<double>(step - cfg.warmup_steps) / static_cast<double>(decay_steps));
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return static_cast<float>(cfg.min_lr + (cfg.lr - cfg.min_lr) * cosine);
}

}  // namespace moe
