// Cuts (inputs, targets) batches out of a token stream: targets are the inputs shifted by one.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace moe {

class BatchSampler {
 public:
  // tokens must outlive the sampler and hold at least block + 1 tokens.
  BatchSampler(const std::vector<int32_t>* tokens, int64_t batch, int64_t block);

  // Random windows for training: row b starts at a uniform offset in [0, n - block - 1] drawn from
  // Rng(key), so a batch is a pure function of key. tokens, targets: (batch, block) I32 on cpu.
  void sample(Tensor tokens, Tensor targets, uint64_t key) const;

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

  const std::vector<int32_t>* tokens_;
  int64_t batch_, block_;
};

}  // namespace moe
