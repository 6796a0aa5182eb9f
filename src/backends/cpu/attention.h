// CPU kernels for causal grouped-query attention. Query head h reads key/value head
// h / (H / Hkv); query i (of the last Tq of Tk positions) sees keys j <= i + (Tk - Tq).
// Attention dropout keeps weight (b, h, i, j) when rng_keep(key, flat index into
// (B, H, Tq, Tk), threshold) — the mask of ops/dropout.h — and scales kept weights by
// 1 / (1 - dropout).
#pragma once
#include <cstdint>

namespace moe::cpu {

// out (B, Tq, H, D); probs (B, H, Tq, Tk) softmax before dropout, 0 where masked;
// q (B, Tq, H, D); k, v (B, Tk, Hkv, D).
template <typename T>
void attention_forward(T* out, T* probs, const T* q, const T* k, const T* v, int64_t B, int64_t Tq,
                       int64_t Tk, int64_t H, int64_t Hkv, int64_t D, float scale, float dropout,
                       uint64_t key);

// dq (B, Tq, H, D), dk, dv (B, Tk, Hkv, D) assigned; dprobs (B, H, Tq, Tk) scratch;
// dout (B, Tq, H, D); q, k, v, probs as in the forward.
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, T* dprobs, const T* dout, const T* q, const T* k,
                        const T* v, const T* probs, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                        int64_t Hkv, int64_t D, float scale, float dropout, uint64_t key);

}  // namespace moe::cpu
