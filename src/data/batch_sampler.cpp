#include "data/batch_sampler.h"

#include <algorithm>

#include "core/check.h"
#include "core/rng.h"

namespace moe {

BatchSampler::BatchSampler(const std::vector<int32_t>* tokens, int64_t batch, int64_t block)
    : tokens_(tokens), batch_(batch), block_(block) {
  MOE_CHECK(tokens != nullptr, "BatchSampler: no token stream given");
  MOE_CHECK(batch > 0 && block > 0, "BatchSampler: batch (", batch, ") and block (", block,
            ") must be positive");
  MOE_CHECK(static_cast<int64_t>(tokens->size()) >= block + 1, "the token stream has ",
            tokens->size(), " tokens, fewer than block_size + 1 = ", block + 1,
            "; use a longer corpus or a smaller block_size");
}

void BatchSampler::check_batch_tensors(const Tensor& tokens, const Tensor& targets) const {
  for (const Tensor* t : {&tokens, &targets}) {
    const char* which = t == &tokens ? "tokens" : "targets";
    MOE_CHECK(t->dtype == DType::I32 && t->device == Device::CPU, "BatchSampler: ", which,
              " must be an I32 cpu tensor, got ", dtype_name(t->dtype), " on ",
              device_name(t->device));
    MOE_CHECK(t->shape == Shape({batch_, block_}), "BatchSampler: ", which, " has shape ",
              t->shape.str(), ", expected ", Shape({batch_, block_}).str());
  }
}

void BatchSampler::fill_row(int32_t* tokens, int32_t* targets, int64_t row, int64_t start) const {
  const int32_t* src = tokens_->data() + start;
  std::copy(src, src + block_, tokens + row * block_);
  std::copy(src + 1, src + 1 + block_, targets + row * block_);
}

void BatchSampler::sample(Tensor tokens, Tensor targets, uint64_t key) const {
  check_batch_tensors(tokens, targets);
  const uint64_t n_starts = tokens_->size() - static_cast<size_t>(block_);
  Rng rng(key);
  for (int64_t b = 0; b < batch_; ++b)
    fill_row(tokens.i32(), targets.i32(), b, static_cast<int64_t>(rng.below(n_starts)));
}

int64_t BatchSampler::num_contiguous_windows() const {
  return (static_cast<int64_t>(tokens_->size()) - 1) / block_;
}

int64_t BatchSampler::contiguous(Tensor tokens, Tensor targets, int64_t first_window) const {
  check_batch_tensors(tokens, targets);
  const int64_t n_windows = num_contiguous_windows();
  MOE_CHECK(first_window >= 0 && first_window < n_windows, "BatchSampler: window ", first_window,
            " is out of range; there are ", n_windows, " windows");
  const int64_t filled = std::min(batch_, n_windows - first_window);
  for (int64_t r = 0; r < filled; ++r)
    fill_row(tokens.i32(), targets.i32(), r, (first_window + r) * block_);
  std::fill(tokens.i32() + filled * block_, tokens.i32() + batch_ * block_, 0);
  std::fill(targets.i32() + filled * block_, targets.i32() + batch_ * block_, 0);
  return filled;
}

}  // namespace moe
