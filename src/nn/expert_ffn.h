// Feed-forward networks over grouped rows: G sets of FFN weights, group g applied to rows
// [off[g], off[g+1]). The MoE layer's experts are G = n_experts groups over tokens sorted by
// expert; a dense FFN or a shared expert is G = 1 over all tokens. One code path for both.
// gpt:   y = w2(relu(w1 x + b1)) + b2
// llama: y = w2(silu(w1 x) * (w3 x))     (SwiGLU, Shazeer 2020)
#pragma once
#include <functional>
#include <string>

#include "config/config.h"
#include "core/arena.h"
#include "nn/gemm.h"
#include "nn/params.h"

namespace moe {

// offsets (2) I32 = {0, rows}: one group over all rows (a dense FFN, a shared expert), written
// from the host through ops::copy.
void write_single_group_offsets(Tensor offsets, int64_t rows);

class ExpertFFN {
 public:
  // name(g, "w1") is the parameter prefix of group g's w1 (".weight"/".bias" are appended).
  using Namer = std::function<std::string(int64_t group, const std::string& proj)>;
  // hidden: F, the hidden size of every group (ffn_hidden for a dense FFN, the expert hidden size
  // for experts and shared experts). An expert-parallel process holds the slice
  // [first_group, first_group + groups) of total_groups (0 and groups otherwise); name() and the
  // init draws get the group's index in the whole set, and the slice's parameters are marked
  // Param::expert_slice.
  ExpertFFN(ParamTable& table, const ModelConfig& cfg, int64_t groups, int64_t hidden,
            const Namer& name, int64_t first_group = 0, int64_t total_groups = 0);
  // Saved activations from `arena`, buffers of one call from `scratch` (see Block::allocate).
  void allocate(Arena& arena, Arena& scratch, int64_t max_rows);
  // Returns y (M, C) for rows [0, used); x (M, C); offsets (G+1) I32 with off[G] = used, which
  // the caller passes from the host (it knows it without reading the device; see MoELayer).
  Tensor forward(const Tensor& x, const Tensor& offsets, int64_t used);
  // dx (M, C) assigned for rows [0, used), or added to with InputGrad::Accumulate (a shared
  // expert beside the routed ones); parameter gradients accumulated.
  void backward(Tensor dx, const Tensor& dout, const Tensor& x, const Tensor& offsets, int64_t used,
                InputGrad dx_mode = InputGrad::Assign);
  // The first `rows` rows of the last forward's output (M, C).
  Tensor forward_output(int64_t rows) const { return out_.rows(0, rows); }
  // Parameters in one group (for active-parameter counts).
  int64_t params_per_group() const;

 private:
  const ParamTable* table_;
  bool swiglu_, bias_;
  int64_t groups_, n_embed_, hidden_;
  Param *w1_, *w2_, *w3_ = nullptr;      // first of G stacked (F, C) / (C, F) / (F, C)
  Param *b1_ = nullptr, *b2_ = nullptr;  // first of G stacked (F) / (C)
  Tensor h1_;                            // (M, F) w1 x (+ b1); gpt: relu applied in place
  Tensor h3_;                            // (M, F) w3 x (llama)
  Tensor out_;                           // (M, C)
  // Scratch (shared by all layers).
  Tensor act_;               // (M, F) silu(h1) * h3 (llama), recomputed in backward
  Tensor dact_, dh1_, dh3_;  // (M, F)
  GemmCasts casts_;          // bf16 GEMM inputs (M, max(C, F)), under mixed precision
  Tensor stacked(const Param* p) const;
  Tensor stacked_gemm(const Param* p) const;
  Tensor stacked_grad(const Param* p) const;
};

}  // namespace moe
