// CPU kernels for causal grouped-query attention in FlashAttention's form (Dao et al. 2022;
// backward as in FlashAttention-2, Dao 2023): tiles of queries x keys, online softmax, and no
// (Tq, Tk) matrix anywhere; memory beyond the inputs and outputs is a few tiles per thread.
// Query head h reads key/value head h / (H / Hkv); query i (of the last Tq of Tk positions) sees
// keys j <= i + (Tk - Tq). Attention dropout keeps weight (b, h, i, j) when rng_keep(key,
// ((b H + h) Tq + i) Tk + j, threshold) — the mask of ops/dropout.h, indexed as if the
// (B, H, Tq, Tk) weights existed — and scales kept weights by 1 / (1 - dropout).
// Results are the same bits for any thread count.
#pragma once
#include <cstdint>

#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cpu {

// Table entries (backends/backend.h), F32 or F64; args.scale is already resolved (non-zero).
void attention_forward(Tensor out, Tensor lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionArgs& args);
void attention_backward(Tensor dq, Tensor dk, Tensor dv, const Tensor& dout, const Tensor& q,
                        const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const AttentionArgs& args);

// The kernels, templated on the scalar type.

struct AttentionDims {
  int64_t B, Tq, Tk;  // batch, queries, keys (Tq <= Tk)
  int64_t H, Hkv, D;  // query heads, key/value heads (H % Hkv == 0), head size
};

struct AttentionOptions {
  float scale;    // multiplies q.k
  float dropout;  // probability of dropping a weight, in [0, 1)
  uint64_t key;   // rng key of the dropout mask
};

// out (B, Tq, H, D); lse (B, H, Tq) log-sum-exp of each query's scaled scores over its visible
// keys (before dropout); q (B, Tq, H, D); k, v (B, Tk, Hkv, D).
template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v,
                       const AttentionDims& dims, const AttentionOptions& options);

// dq (B, Tq, H, D), dk, dv (B, Tk, Hkv, D) assigned; dout (B, Tq, H, D); q, k, v as in the
// forward; out (B, Tq, H, D) and lse (B, H, Tq) saved by it.
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, const AttentionDims& dims,
                        const AttentionOptions& options);

}  // namespace moe::cpu
