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

// What a linear layer's backward does with the input gradient dx: overwrites it, or adds to it.
// Layers that read the same input (SwiGLU's gate and up projections, attention's q, k and v, the
// router beside the experts) then sum their input gradients in the GEMM itself (beta = 1)
// instead of through a second buffer and an add pass.
enum class InputGrad : int32_t { Assign = 0, Accumulate = 1 };

// The router's gate path: how many experts each token keeps and the softmax temperature.
struct RouterArgs {
  int top_k = 2;
  float temperature = 1.0f;
};

// The function that turns router logits into scores: softmax(logits / temperature) or
// sigmoid(logits).
enum class RouterScore : int32_t { Softmax = 0, Sigmoid = 1 };

// The router losses (ops/moe_router.h): the score function their normalised scores P come from.
struct RouterLossArgs {
  RouterScore score = RouterScore::Softmax;
  float temperature = 1.0f;  // softmax scores: P = softmax(logits / temperature)
};

// Scored routing (ops/router_scores.h): the score function, the selection-only per-expert bias
// of auxiliary-loss-free balancing and the routed scaling factor (DeepSeek-V3, arXiv 2412.19437,
// section 2.1.2).
struct ScoredRouterArgs {
  int top_k = 2;
  float temperature = 1.0f;  // softmax scores: softmax(logits / temperature)
  RouterScore score = RouterScore::Sigmoid;
  float scaling = 1.0f;  // multiplies the renormalised gates
};

// Attention's options (ops/attention.h). The ops layer resolves a scale of 0 to 1/sqrt(D), so a
// kernel always receives the scale it applies.
struct AttentionArgs {
  float scale = 0.0f;        // multiplies q.k; 0 means 1/sqrt(D)
  float dropout = 0.0f;      // probability of dropping an attention weight (training only)
  uint64_t dropout_key = 0;  // rng key for the dropout mask
};

}  // namespace moe
