// Causal scaled dot-product attention with grouped-query heads (Ainslie et al. 2023, GQA):
// query head h reads key/value head h / (H / H_kv). Queries are the last Tq of Tk positions
// (Tq == Tk in training; Tq < Tk when decoding against a KV cache), so query i sees keys
// j <= i + (Tk - Tq). FlashAttention's contract (Dao et al. 2022; Dao 2023): the forward saves
// only the output and each query's log-sum-exp; the backward recomputes the softmax tile by tile
// from q, k and lse, so memory is linear in the sequence length (no (Tq, Tk) matrix anywhere).
// Tensors are F32 or F64 (one dtype per call); softmax statistics in that dtype. Dropout on the
// attention weights is the mask of ops/dropout.h, drawn from (key, index) with the index of the
// weight in (B, H, Tq, Tk) order, so the backward regenerates it.
#pragma once
#include <cstdint>

#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::ops {

// scale (0: 1/sqrt(D)), dropout probability and dropout key (backends/kernel_args.h).
using moe::AttentionArgs;

// out (B, Tq, H, D); lse (B, H, Tq) log-sum-exp of each query's scaled scores (before dropout),
// saved for the backward; q (B, Tq, H, D); k, v (B, Tk, H_kv, D).
void attention_forward(Tensor out, Tensor lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionArgs& args);

// dq (B, Tq, H, D), dk, dv (B, Tk, H_kv, D) assigned; dout (B, Tq, H, D); q, k, v, and the
// forward's out (B, Tq, H, D) and lse (B, H, Tq); args as in the forward.
void attention_backward(Tensor dq, Tensor dk, Tensor dv, const Tensor& dout, const Tensor& q,
                        const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const AttentionArgs& args);

}  // namespace moe::ops
