// Option structs shared by the ops API and the backend kernels (ops/adamw.h, ops/moe_router.h
// document them); one struct per op instead of long lists of scalars.
#pragma once
#include <cstdint>

namespace moe {

// AdamW hyperparameters and the step for the bias correction (torch.optim.AdamW's meaning).
struct AdamWArgs {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  int64_t step = 1;  // 1-based, for bias correction
};

// The router's gate path: how many experts each token keeps and the softmax temperature.
struct RouterArgs {
  int top_k = 2;
  float temperature = 1.0f;
};

}  // namespace moe
