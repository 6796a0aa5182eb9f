// Cuts (inputs, targets) batches out of a token stream: targets are the inputs shifted by one.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "data/token_span.h"

namespace moe {

class BatchSampler {
 public:
  // The stream (a vector or a mapped shard) must outlive the sampler and hold at least
  // block + 1 tokens. Batches copy only their own rows out of it.
  BatchSampler(TokenSpan tokens, int64_t batch, int64_t block);

  // Random windows for training: row b starts at a uniform offset in [0, n - block - 1] drawn from
  // Rng(key), so a batch is a pure function of key. tokens, targets: (batch, block) I32 on cpu.
  void sample(Tensor tokens, Tensor targets, uint64_t key) const;

  // Non-overlapping training chunks, as the tutorial's dataset does: the stream holds
  // (n - 1) / block sequences (sequence s = tokens[s * block, (s + 1) * block], the same windows
  // as contiguous() below); every epoch visits each once, in an order shuffled from
  // rng_key(key, epoch) (Fisher-Yates). Batch g holds the sequences g * batch .. g * batch +
  // batch - 1 of that endless epoch-by-epoch order, so a batch is a pure function of (key, g).
  void chunks(Tensor tokens, Tensor targets, int64_t batch_index, uint64_t key) const;

  // Non-overlapping windows from the start, for evaluation over the whole stream: window w covers
  // tokens[w * block, (w + 1) * block] (block inputs plus the last target); there are
  // (n - 1) / block of them.
  int64_t num_contiguous_windows() const;
  // Fills row r with window first_window + r while such a window exists and returns the number of
  // rows filled; the remaining rows (only in the last batch) are set to token 0 and must be ignored
  // by the caller, e.g. by evaluating only tokens.rows(0, filled).
  int64_t contiguous(Tensor tokens, Tensor targets, int64_t first_window) const;

  int64_t batch() const { return batch_; }
  int64_t block() const { return block_; }

 private:
  void check_batch_tensors(const Tensor& tokens, const Tensor& targets) const;
  void fill_row(int32_t* tokens, int32_t* targets, int64_t row, int64_t start) const;

  TokenSpan tokens_;
  int64_t batch_, block_;
  // The shuffled order of the epoch last used by chunks(): (num_contiguous_windows) sequence
  // indices, rebuilt once per epoch.
  mutable std::vector<int64_t> epoch_order_;
  mutable int64_t order_epoch_ = -1;
  mutable uint64_t order_key_ = 0;
};

}  // namespace moe
