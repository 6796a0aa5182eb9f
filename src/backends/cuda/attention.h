// CUDA kernels for causal grouped-query attention in FlashAttention's form (Dao et al. 2022;
// backward as in FlashAttention-2, Dao 2023), the same results as backends/cpu/attention.h:
// tiles of queries x keys in shared memory, online softmax, no (Tq, Tk) matrix anywhere, and the
// CPU's dropout mask (weight (b, h, i, j) kept when rng_keep(key, ((b H + h) Tq + i) Tk + j,
// threshold)). No floating-point atomics: every gradient element has one writer.
#pragma once
#include "backends/kernel_args.h"
#include "core/tensor.h"

namespace moe::cuda {

// Table entries (backends/backend.h), F32; args.scale is already resolved (non-zero).
// out (B, Tq, H, D), lse (B, H, Tq), q (B, Tq, H, D), k, v (B, Tk, Hkv, D).
void attention_forward(Tensor out, Tensor lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionArgs& args);
// dq (B, Tq, H, D), dk, dv (B, Tk, Hkv, D) assigned; the rest as in the forward.
void attention_backward(Tensor dq, Tensor dk, Tensor dv, const Tensor& dout, const Tensor& q,
                        const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const AttentionArgs& args);

}  // namespace moe::cuda
