// The kernel table of one device (the MLX / ggml pattern). The ops layer (src/ops) checks every
// argument once — devices, shapes, dtypes, index ranges — and then calls through this table, so
// a new device is a folder of kernels under backends/ plus one line in backends/registry.cpp, and
// nothing above backends/ changes.
//
// Contract of every kernel: its tensors are on the backend's device and already validated, so it
// trusts them and checks nothing again. The floating-point tensors of one call share one dtype,
// one the backend lists in `dtypes`; index tensors are I32. Shapes are as in the op's header in
// src/ops. Gradients follow the ops' rule: parameter gradients accumulate (+=), activation
// gradients are assigned (a linear layer's dx may also accumulate: InputGrad). Statistics a kernel
// reports (a loss, a norm, a count) are written into a small output tensor on the device rather
// than returned, so no kernel makes the host wait; the caller copies them to the host when it needs
// them (the trainer: once per step).
#pragma once
#include <cstdint>
#include <span>

#include "backends/kernel_args.h"
#include "core/device_memory.h"
#include "core/tensor.h"

namespace moe {

struct ElementwiseKernels {
  // fill and add take F64 on every backend, whatever `dtypes` lists: the trainer zeroes and adds
  // up its step statistics (losses, expert loads) in F64 on the model's device.
  void (*fill)(Tensor t, float value);
  // out = a + b; out may alias a or b.
  void (*add)(Tensor out, const Tensor& a, const Tensor& b);
  // sum (n) F64 += x (n) widened to fp64.
  void (*add_widened)(Tensor sum, const Tensor& x);
  void (*scale_inplace)(Tensor t, float s);
  // sum (1) F64 = sum of t^2, accumulated in fp64 in an order independent of the thread count.
  void (*sum_squares)(Tensor sum, const Tensor& t);
  // finite (1) I32 = 1 when every element of t is finite, else 0.
  void (*all_finite)(Tensor finite, const Tensor& t);
  // t[i] = mean + std * rng_normal(key, i) (core/rng.h).
  void (*fill_normal)(Tensor t, float mean, float std, uint64_t key);
  // t[i] = lo + (hi - lo) * rng_uniform(key, i).
  void (*fill_uniform)(Tensor t, float lo, float hi, uint64_t key);
};

struct ActivationKernels {
  void (*relu_forward)(Tensor out, const Tensor& x);
  void (*relu_backward)(Tensor dx, const Tensor& dout, const Tensor& out);
  void (*swiglu_forward)(Tensor out, const Tensor& gate, const Tensor& up);
  void (*swiglu_backward)(Tensor dgate, Tensor dup, const Tensor& dout, const Tensor& gate,
                          const Tensor& up);
  // The mask is rng_keep(key, index, dropout_threshold(p)) (core/rng.h), so every backend drops
  // the same elements; 0 <= p < 1.
  void (*dropout_forward)(Tensor out, const Tensor& x, float p, uint64_t key);
  void (*dropout_backward)(Tensor dx, const Tensor& dout, float p, uint64_t key);
};

struct NormKernels {
  // b may be empty.
  void (*layernorm_forward)(Tensor out, Tensor mean, Tensor rstd, const Tensor& x, const Tensor& w,
                            const Tensor& b, float eps);
  // db may be empty.
  void (*layernorm_backward)(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                             const Tensor& w, const Tensor& mean, const Tensor& rstd);
  void (*rmsnorm_forward)(Tensor out, Tensor rstd, const Tensor& x, const Tensor& w, float eps);
  void (*rmsnorm_backward)(Tensor dx, Tensor dw, const Tensor& dout, const Tensor& x,
                           const Tensor& w, const Tensor& rstd);
};

// The linear layers come in two tables: `linear`, whose tensors share the backend's dtype (F32 or
// F64), and `bf16_linear` for mixed precision (train.precision = bf16), whose GEMM inputs x, w and
// dout are BF16 while out, b, dx, dw and db are F32: products of bf16 values accumulated in fp32.
struct LinearKernels {
  // b may be empty.
  void (*linear_forward)(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b);
  // dx and db may be empty (skipped); dx assigned or accumulated as `dx_mode` says.
  void (*linear_backward)(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                          const Tensor& w, InputGrad dx_mode);
  // expert_offsets (E+1) is a non-decreasing partition of x's rows (checked by ops).
  void (*grouped_linear_forward)(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                                 const Tensor& expert_offsets);
  void (*grouped_linear_backward)(Tensor dx, Tensor dw, Tensor db, const Tensor& dout,
                                  const Tensor& x, const Tensor& w, const Tensor& expert_offsets,
                                  InputGrad dx_mode);
};

// Token and position embeddings: learned (GPT-style) and rotary (Llama-style).
struct EmbeddingKernels {
  // Token ids lie in [0, V) (checked by ops where the host can read them; see ops/dispatch.h).
  void (*embedding_forward)(Tensor out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe,
                            int64_t pos_offset);
  void (*embedding_backward)(Tensor dwte, Tensor dwpe, const Tensor& dout, const Tensor& tokens);
  void (*rope_forward)(Tensor out, const Tensor& x, int64_t pos_offset, float theta);
  void (*rope_backward)(Tensor dx, const Tensor& dout, int64_t pos_offset, float theta);
};

// Causal grouped-query attention in FlashAttention's form (ops/attention.h): the forward saves
// the output and each query's log-sum-exp only; the backward recomputes the weights from them.
struct AttentionKernels {
  void (*attention_forward)(Tensor out, Tensor lse, const Tensor& q, const Tensor& k,
                            const Tensor& v, const AttentionArgs& args);
  void (*attention_backward)(Tensor dq, Tensor dk, Tensor dv, const Tensor& dout, const Tensor& q,
                             const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                             const AttentionArgs& args);
};

struct LossKernels {
  // losses (N) per row; mean (1) F64 = their mean, summed in row order in fp64.
  void (*softmax_xent_forward)(Tensor losses, Tensor mean, const Tensor& logits,
                               const Tensor& targets);
  void (*softmax_xent_backward)(Tensor dlogits, const Tensor& logits, const Tensor& targets,
                                float dloss);
  void (*softmax_forward)(Tensor probs, const Tensor& logits, float temperature);
};

struct RouterKernels {
  // noise_logits and noise_eps are both empty or both given.
  void (*router_forward)(Tensor topk_idx, Tensor gates, const Tensor& logits,
                         const Tensor& noise_logits, const Tensor& noise_eps,
                         const RouterArgs& args);
  // dnoise_logits may be empty.
  void (*router_backward)(Tensor dlogits, Tensor dnoise_logits, const Tensor& dgates,
                          const Tensor& topk_idx, const Tensor& gates, const Tensor& noise_logits,
                          const Tensor& noise_eps, const RouterArgs& args);
  // stats (3) F64: aux loss, z loss, routing entropy; softmax or sigmoid scores (args.score).
  void (*router_losses_forward)(Tensor stats, Tensor expert_fraction, const Tensor& logits,
                                const Tensor& topk_idx, const RouterLossArgs& args);
  void (*router_losses_backward)(Tensor dlogits, const Tensor& logits,
                                 const Tensor& expert_fraction, const RouterLossArgs& args,
                                 float aux_coef, float z_coef);
};

// Sigmoid gating and auxiliary-loss-free balancing (ops/router_scores.h).
struct ScoredRouterKernels {
  // bias may be empty.
  void (*scored_router_forward)(Tensor topk_idx, Tensor gates, const Tensor& logits,
                                const Tensor& bias, const ScoredRouterArgs& args);
  void (*scored_router_backward)(Tensor dlogits, const Tensor& dgates, const Tensor& topk_idx,
                                 const Tensor& gates, const Tensor& logits,
                                 const ScoredRouterArgs& args);
  // load (E) F64 whole-number counts; the bias update resets them to 0.
  void (*router_load_accumulate)(Tensor load, const Tensor& topk_idx);
  void (*router_bias_update)(Tensor bias, Tensor load, float gamma);
};

// Load-balancing losses over segments of the tokens (ops/router_balance.h): sequence-wise and
// global-batch balancing.
struct BalanceKernels {
  void (*segment_fractions)(Tensor fraction, const Tensor& topk_idx);
  // loss (1) F64.
  void (*balance_loss_forward)(Tensor loss, const Tensor& scores, const Tensor& fraction);
  void (*balance_loss_backward)(Tensor dscores, const Tensor& fraction, float coef);
  // dlogits accumulated.
  void (*softmax_backward)(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                           float temperature);
  // probs assigned; dlogits accumulated.
  void (*normalized_sigmoid_forward)(Tensor probs, const Tensor& logits);
  void (*normalized_sigmoid_backward)(Tensor dlogits, const Tensor& dprobs, const Tensor& probs,
                                      const Tensor& logits);
};

// Sparse dispatch (ops/moe_permute.h). The plan's outputs are valid by construction, so the
// kernels that take them need no host-side check on a device backend.
struct DispatchKernels {
  // dropped (1) I32 = the number of assignments over capacity.
  void (*moe_dispatch_plan)(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows,
                            Tensor dropped, const Tensor& topk_idx, int64_t capacity);
  // Expert choice (ops/expert_choice.h): each expert keeps its `capacity` best slots by gate;
  // dropped (1) I32 = the number of tokens no expert kept.
  void (*expert_choice_plan)(Tensor expert_offsets, Tensor sorted_slots, Tensor slot_rows,
                             Tensor dropped, const Tensor& topk_idx, const Tensor& gates,
                             int64_t capacity);
  void (*moe_gather)(Tensor xs, const Tensor& x, const Tensor& sorted_slots,
                     const Tensor& expert_offsets, int64_t top_k);
  void (*moe_gather_backward)(Tensor dx, const Tensor& dxs, const Tensor& slot_rows, int64_t top_k);
  void (*moe_scatter)(Tensor y, const Tensor& ys, const Tensor& gates, const Tensor& slot_rows);
  void (*moe_scatter_backward)(Tensor dys, Tensor dgates, const Tensor& dy, const Tensor& ys,
                               const Tensor& gates, const Tensor& slot_rows,
                               const Tensor& sorted_slots, const Tensor& expert_offsets);
};

// Between fp32 and bfloat16 (core/half.h), for mixed precision; every backend has them.
struct CastKernels {
  // out (n) BF16 = src (n) F32 rounded to nearest, ties to even.
  void (*to_bf16)(Tensor out, const Tensor& src);
  // out (n) BF16 = src (n) F32 rounded stochastically with the random bits rng_bits(key, i).
  void (*to_bf16_stochastic)(Tensor out, const Tensor& src, uint64_t key);
  // out (n) F32 = src (n) BF16, exactly.
  void (*from_bf16)(Tensor out, const Tensor& src);
};

struct OptimizerKernels {
  void (*adamw_update)(Tensor param, const Tensor& grad, Tensor m, Tensor v, const AdamWArgs& args);
};

struct Backend {
  const char* name;  // "cpu"
  Device device;
  // The floating-point dtypes the kernels take (BF16 is not one: only the casts and bf16_linear
  // take it, on every backend).
  std::span<const DType> dtypes;
  // True when the device's memory is the host's: the ops layer then reads index tensors to check
  // their ranges.
  bool host_memory;
  // Why this machine cannot run the backend (e.g. no GPU found), or nullptr when it can.
  const char* (*missing_device)();
  // The kernel library in use, for run records (the OpenBLAS kernel family on the CPU).
  const char* (*kernel_library)();
  // The most device memory the process held at once, bytes: the high-water mark of `memory`'s
  // allocations plus that of the kernels' temporary buffers (an upper bound when the two peaks
  // fall at different times). nullptr for host memory, whose peak is the process's peak RSS.
  size_t (*peak_memory_bytes)();
  // The device's dense rate of matrix multiplies with `math` inputs (F32, or BF16 with fp32
  // accumulation), FLOP/s: the denominator of model FLOPs utilisation (MFU) for a run of that
  // precision. nullptr where the backend does not know it.
  double (*peak_flops)(DType math);
  DeviceMemory memory;
  ElementwiseKernels elementwise;
  ActivationKernels activation;
  NormKernels norm;
  LinearKernels linear;
  LinearKernels bf16_linear;
  CastKernels cast;
  EmbeddingKernels embedding;
  AttentionKernels attention;
  LossKernels loss;
  RouterKernels router;
  ScoredRouterKernels scored_router;
  BalanceKernels balance;
  DispatchKernels dispatch;
  OptimizerKernels optimizer;

  bool offers(DType dtype) const {
    for (DType d : dtypes)
      if (d == dtype) return true;
    return false;
  }
};

}  // namespace moe
