#include "data/batch_sampler.h"

#include <algorithm>
#include <numeric>

#include "core/check.h"
#include "core/rng.h"

namespace moe {

BatchSampler::BatchSampler(TokenSpan tokens, int64_t batch, int64_t block)
    : tokens_(tokens), batch_(batch), block_(block) {
  MOE_CHECK(batch > 0 && block > 0, "BatchSampler: batch (", batch, ") and block (", block,
            ") must be positive");
  MOE_CHECK(tokens.size >= block + 1, "the token stream has ", tokens.size,
            " tokens, fewer than block_size + 1 = ", block + 1,
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
  tokens_.copy_to(tokens + row * block_, start, block_);
  tokens_.copy_to(targets + row * block_, start + 1, block_);
}

void BatchSampler::sample(Tensor tokens, Tensor targets, uint64_t key) const {
  check_batch_tensors(tokens, targets);
  const uint64_t n_starts = static_cast<uint64_t>(tokens_.size - block_);
  Rng rng(key);
  for (int64_t b = 0; b < batch_; ++b)
    fill_row(tokens.i32(), targets.i32(), b, static_cast<int64_t>(rng.below(n_starts)));
}

int64_t BatchSampler::num_contiguous_windows() const {
  return (tokens_.size - 1) / block_;
}

void BatchSampler::chunks(Tensor tokens, Tensor targets, int64_t batch_index, uint64_t key) const {
  check_batch_tensors(tokens, targets);
  MOE_CHECK(batch_index >= 0, "BatchSampler: batch index ", batch_index, " is negative");
  const int64_t n_seq = num_contiguous_windows();
  for (int64_t b = 0; b < batch_; ++b) {
    const int64_t i = batch_index * batch_ + b;  // position in the epoch-by-epoch order
    const int64_t epoch = i / n_seq;
    if (epoch != order_epoch_ || key != order_key_) {
      epoch_order_.resize(static_cast<size_t>(n_seq));
      std::iota(epoch_order_.begin(), epoch_order_.end(), int64_t{0});
      Rng rng(rng_key(key, static_cast<uint64_t>(epoch)));
      for (int64_t j = n_seq - 1; j > 0; --j)
        std::swap(epoch_order_[j], epoch_order_[rng.below(static_cast<uint64_t>(j + 1))]);
      order_epoch_ = epoch;
      order_key_ = key;
    }
    fill_row(tokens.i32(), targets.i32(), b, epoch_order_[i % n_seq] * block_);
  }
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
