#include "nn/expert_ffn.h"

#include <algorithm>

#include "nn/init.h"
#include "ops/activation.h"
#include "ops/elementwise.h"

namespace moe {

void write_single_group_offsets(Tensor offsets, int64_t rows) {
  int32_t host[2] = {0, static_cast<int32_t>(rows)};
  ops::copy(offsets, cpu_tensor(host, Shape{2}));
}

ExpertFFN::ExpertFFN(ParamTable& table, const ModelConfig& cfg, int64_t groups, int64_t hidden,
                     const Namer& name, int64_t first_group, int64_t total_groups)
    : table_(&table),
      swiglu_(!cfg.is_gpt()),
      bias_(cfg.has_bias()),
      groups_(groups),
      n_embed_(cfg.n_embed),
      hidden_(hidden) {
  const int64_t c = n_embed_, f = hidden_;
  if (total_groups == 0) total_groups = groups;
  const bool slice = groups < total_groups;
  // Each projection's G tensors are registered back to back so they stack into (G, ...).
  auto add_group = [&](const std::string& proj, Shape shape, ParamInit init, bool decay,
                       const char* suffix) {
    Param* first = nullptr;
    table.skip_init_indices(first_group);
    for (int64_t g = 0; g < groups_; ++g) {
      Param* p = table.add(name(first_group + g, proj) + suffix, shape, init, decay);
      p->expert_slice = slice;
      if (g == 0) first = p;
    }
    table.skip_init_indices(total_groups - first_group - groups_);
    return first;
  };
  const LinearInit in_init = linear_init(cfg, c, f, false), out_init = linear_init(cfg, f, c, true);
  w1_ = add_group("w1", Shape{f, c}, in_init.weight, true, ".weight");
  if (bias_) b1_ = add_group("w1", Shape{f}, in_init.bias, false, ".bias");
  if (swiglu_) w3_ = add_group("w3", Shape{f, c}, in_init.weight, true, ".weight");
  w2_ = add_group("w2", Shape{c, f}, out_init.weight, true, ".weight");
  if (bias_) b2_ = add_group("w2", Shape{c}, out_init.bias, false, ".bias");
}

int64_t ExpertFFN::params_per_group() const {
  int64_t n = 2 * hidden_ * n_embed_;
  if (swiglu_) n += hidden_ * n_embed_;
  if (bias_) n += hidden_ + n_embed_;
  return n;
}

void ExpertFFN::allocate(Arena& arena, Arena& scratch, int64_t max_rows) {
  h1_ = arena.alloc(Shape{max_rows, hidden_});
  out_ = arena.alloc(Shape{max_rows, n_embed_});
  dact_ = scratch.alloc(Shape{max_rows, hidden_});
  dh1_ = scratch.alloc(Shape{max_rows, hidden_});
  if (swiglu_) {
    h3_ = arena.alloc(Shape{max_rows, hidden_});
    act_ = scratch.alloc(Shape{max_rows, hidden_});
    dh3_ = scratch.alloc(Shape{max_rows, hidden_});
  }
  const int64_t widest = max_rows * std::max(hidden_, n_embed_);
  casts_.allocate(scratch, table_->bf16_gemm_values(), widest, widest);
}

Tensor ExpertFFN::stacked(const Param* p) const {
  return p ? table_->stacked_value(p, groups_) : Tensor{};
}
Tensor ExpertFFN::stacked_grad(const Param* p) const {
  return p ? table_->stacked_grad(p, groups_) : Tensor{};
}
Tensor ExpertFFN::stacked_gemm(const Param* p) const {
  return table_->stacked_gemm_value(p, groups_);
}

Tensor ExpertFFN::forward(const Tensor& x, const Tensor& offsets, int64_t used) {
  const int64_t m = x.size(0);
  Tensor h1 = h1_.rows(0, m);
  Tensor out = out_.rows(0, m);
  gemm_grouped_forward(casts_, h1, x, stacked_gemm(w1_), stacked(b1_), offsets);
  Tensor act = h1;
  if (swiglu_) {
    Tensor h3 = h3_.rows(0, m);
    act = act_.rows(0, m);
    gemm_grouped_forward(casts_, h3, x, stacked_gemm(w3_), Tensor{}, offsets);
    ops::swiglu_forward(act.rows(0, used), h1.rows(0, used), h3.rows(0, used));
  } else {
    ops::relu_forward(h1.rows(0, used), h1.rows(0, used));
  }
  gemm_grouped_forward(casts_, out, act, stacked_gemm(w2_), stacked(b2_), offsets);
  return out;
}

void ExpertFFN::backward(Tensor dx, const Tensor& dout, const Tensor& x, const Tensor& offsets,
                         int64_t used, InputGrad dx_mode) {
  const int64_t m = x.size(0);
  Tensor act = h1_.rows(0, m);  // gpt: relu's output
  if (swiglu_) {
    // SwiGLU's product is recomputed from the saved h1 and h3 rather than saved: one elementwise
    // pass instead of an (M, F) buffer per layer, and the same bits as the forward's.
    act = act_.rows(0, m);
    ops::swiglu_forward(act.rows(0, used), h1_.rows(0, used), h3_.rows(0, used));
  }
  Tensor dact = dact_.rows(0, m);
  gemm_grouped_backward(casts_, dact, stacked_grad(w2_), stacked_grad(b2_), dout, act,
                        stacked_gemm(w2_), offsets);
  Tensor dh1 = dh1_.rows(0, m);
  if (swiglu_) {
    Tensor dh3 = dh3_.rows(0, m);
    ops::swiglu_backward(dh1.rows(0, used), dh3.rows(0, used), dact.rows(0, used),
                         h1_.rows(0, used), h3_.rows(0, used));
    gemm_grouped_backward(casts_, dx, stacked_grad(w1_), Tensor{}, dh1, x, stacked_gemm(w1_),
                          offsets, dx_mode);
    // w3 reads the same rows as w1: its input gradient adds onto w1's inside the GEMM (beta = 1).
    gemm_grouped_backward(casts_, dx, stacked_grad(w3_), Tensor{}, dh3, x, stacked_gemm(w3_),
                          offsets, InputGrad::Accumulate);
  } else {
    // h1 holds relu's output, which is all relu_backward needs.
    ops::relu_backward(dh1.rows(0, used), dact.rows(0, used), h1_.rows(0, used));
    gemm_grouped_backward(casts_, dx, stacked_grad(w1_), stacked_grad(b1_), dh1, x,
                          stacked_gemm(w1_), offsets, dx_mode);
  }
}

}  // namespace moe
