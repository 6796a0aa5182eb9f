#include <gtest/gtest.h>

#include <cmath>

#include "train/lr_schedule.h"

namespace moe {
namespace {

TEST(LrSchedule, WarmupThenCosineToMinLr) {
  TrainConfig c;
  c.lr = 1e-3f;
  c.min_lr = 1e-4f;
  c.warmup_steps = 10;
  c.steps = 110;
  c.lr_schedule = "cosine";
  EXPECT_FLOAT_EQ(lr_at(c, 0), 1e-4f);  // (0 + 1) / 10 of lr
  EXPECT_FLOAT_EQ(lr_at(c, 9), 1e-3f);
  EXPECT_FLOAT_EQ(lr_at(c, 10), 1e-3f);  // cosine starts at the peak
  // Halfway through the decay the cosine is at its midpoint.
  EXPECT_NEAR(lr_at(c, 60), 0.5 * (1e-3 + 1e-4), 1e-9);
  EXPECT_NEAR(lr_at(c, 110), 1e-4, 1e-9);
  for (int64_t s = 11; s < 110; ++s)
    EXPECT_LE(lr_at(c, s), lr_at(c, s - 1));
}

TEST(LrSchedule, ConstantAfterWarmup) {
  TrainConfig c;
  c.lr = 2e-3f;
  c.warmup_steps = 0;
  c.lr_schedule = "constant";
  EXPECT_FLOAT_EQ(lr_at(c, 0), 2e-3f);
  EXPECT_FLOAT_EQ(lr_at(c, 4999), 2e-3f);
}

}  // namespace
}  // namespace moe
