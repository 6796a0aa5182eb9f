// Causal scaled dot-product attention with grouped-query heads (Ainslie et al. 2023, GQA):
// query head h reads key/value head h / (H / H_kv). Queries are the last Tq of Tk positions
// (Tq == Tk in training; Tq < Tk when decoding against a KV cache), so query i sees keys
// j <= i + (Tk - Tq). Softmax statistics in fp32. Dropout on the attention probabilities is
// the mask of ops/dropout.h, drawn from (key, index) so backward can regenerate it.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace moe::ops {

struct AttentionArgs {
  float scale = 0.0f;        // multiplies q.k; 0 means 1/sqrt(D)
  float dropout = 0.0f;      // probability of dropping an attention weight (training only)
  uint64_t dropout_key = 0;  // rng key for the dropout mask
};

// out (B, Tq, H, D); probs (B, H, Tq, Tk) saved softmax (before dropout);
// q (B, Tq, H, D); k, v (B, Tk, H_kv, D).
void attention_forward(Tensor out, Tensor probs, const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionArgs& args);

// dq (B, Tq, H, D), dk, dv (B, Tk, H_kv, D) assigned; dprobs (B, H, Tq, Tk) is scratch.
void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dprobs, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                        const AttentionArgs& args);

}  // namespace moe::ops
