#include "nn/params.h"

#include <string_view>
#include <unordered_map>

#include "core/check.h"
#include "core/rng.h"
#include "core/rng_streams.h"
#include "ops/cast.h"
#include "ops/elementwise.h"

namespace moe {

Param* ParamTable::add(const std::string& name, Shape shape, ParamInit init, bool decay) {
  MOE_CHECK(values_.empty(), "parameter ", name, " registered after allocation");
  MOE_CHECK(find(name) == nullptr, "parameter ", name, " registered twice");
  params_.push_back(
      Param{name, shape, init, decay, static_cast<int64_t>(params_.size()), numel_, {}, {}, {}});
  params_.back().init_index = next_init_index_++;
  numel_ += shape.numel();
  return &params_.back();
}

void ParamTable::allocate() {
  values_ = arena_.alloc(Shape{numel_});
  grads_ = arena_.alloc(Shape{numel_});
  if (arena_.mode() == ArenaMode::Measure) return;
  for (Param& p : params_) {
    p.value = values_.rows(p.offset, p.offset + p.shape.numel()).view(p.shape);
    p.grad = grads_.rows(p.offset, p.offset + p.shape.numel()).view(p.shape);
    p.gemm_value = p.value;
  }
}

void ParamTable::use_bf16_gemm_values() {
  MOE_CHECK(!bf16_, "the parameters already keep bf16 copies");
  bf16_ = true;
  bf16_values_ = arena_.alloc(Shape{numel_}, DType::BF16);
  if (arena_.mode() == ArenaMode::Measure) return;
  for (Param& p : params_)
    p.gemm_value = bf16_values_.rows(p.offset, p.offset + p.shape.numel()).view(p.shape);
}

void ParamTable::refresh_bf16_values(bool stochastic, uint64_t key) {
  MOE_CHECK(bf16_, "the parameters keep no bf16 copies");
  if (stochastic)
    ops::cast_to_bf16_stochastic(bf16_values_, values_, key);
  else
    ops::cast_to_bf16(bf16_values_, values_);
}

void ParamTable::initialize(uint64_t seed) {
  for (Param& p : params_) {
    const auto index = static_cast<uint64_t>(p.init_index);
    switch (p.init.kind) {
      case ParamInit::Kind::Zeros:
        ops::fill(p.value, 0.0f);
        break;
      case ParamInit::Kind::Ones:
        ops::fill(p.value, 1.0f);
        break;
      case ParamInit::Kind::Normal:
        ops::fill_normal(p.value, 0.0f, p.init.std,
                         rng_key(seed, rng_substream::kParamValues, index));
        break;
      case ParamInit::Kind::Uniform:
        ops::fill_uniform(p.value, -p.init.bound, p.init.bound,
                          rng_key(seed, rng_substream::kParamValues, index));
        break;
    }
  }
}

Tensor ParamTable::stacked(const Tensor& flat, const Param* first, int64_t count) const {
  int64_t begin = first->offset;
  int64_t each = first->shape.numel();
  MOE_CHECK(first->index + count <= static_cast<int64_t>(params_.size()), "stack of ", count,
            " parameters from ", first->name, " runs past the table");
  // Consecutive registration is what makes the stack contiguous; check it.
  for (int64_t i = 0; i < count; ++i) {
    const Param* p = &params_[first->index + i];
    MOE_CHECK(p->shape == first->shape && p->offset == begin + i * each, "parameters after ",
              first->name, " are not a contiguous stack");
  }
  Shape s;
  s.ndim = first->shape.ndim + 1;
  s.dims[0] = count;
  for (int i = 0; i < first->shape.ndim; ++i)
    s.dims[i + 1] = first->shape.dims[i];
  return flat.rows(begin, begin + count * each).view(s);
}

Tensor ParamTable::stacked_value(const Param* first, int64_t count) const {
  return stacked(values_, first, count);
}
Tensor ParamTable::stacked_grad(const Param* first, int64_t count) const {
  return stacked(grads_, first, count);
}
Tensor ParamTable::stacked_gemm_value(const Param* first, int64_t count) const {
  return bf16_ ? stacked(bf16_values_, first, count) : stacked(values_, first, count);
}

const Param* ParamTable::find(const std::string& name) const {
  for (const Param& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<int64_t> ParamTable::offsets_in(const ParamTable& whole) const {
  std::unordered_map<std::string_view, int64_t> offset_of;
  for (const Param& p : whole.params())
    offset_of.emplace(p.name, p.offset);
  std::vector<int64_t> offsets;
  offsets.reserve(params_.size());
  for (const Param& p : params_) {
    const auto it = offset_of.find(p.name);
    MOE_CHECK(it != offset_of.end(), "parameter ", p.name, " is not part of the whole model");
    offsets.push_back(it->second);
  }
  return offsets;
}

void ParamTable::zero_grads() {
  ops::fill(grads_, 0.0f);
}

}  // namespace moe
