// Option structs shared by the ops API and the backend kernels (ops/adamw.h, ops/moe_router.h,
// ops/attention.h document them); one struct per op instead of long lists of scalars.
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

// Attention's options (ops/attention.h). The ops layer resolves a scale of 0 to 1/sqrt(D), so a
// kernel always receives the scale it applies.
struct AttentionArgs {
  float scale = 0.0f;        // multiplies q.k; 0 means 1/sqrt(D)
  float dropout = 0.0f;      // probability of dropping an attention weight (training only)
  uint64_t dropout_key = 0;  // rng key for the dropout mask
};

}  // namespace moe
