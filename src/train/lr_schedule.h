// Learning rate at a step: linear warmup from lr/warmup to lr over warmup_steps, then either
// constant or a cosine decay to min_lr at the last step (Loshchilov, Hutter 2017, SGDR, without
// restarts).
#pragma once
#include <cstdint>

#include "config/config.h"

namespace moe {

// step is 0-based: the lr used for the (step+1)-th optimizer update.
float lr_at(const TrainConfig& cfg, int64_t step);

}  // namespace moe
