#include "train/zero_sharding.h"

#include <algorithm>

#include "core/check.h"
#include "model/host_staging.h"
#include "ops/elementwise.h"

namespace moe {

ZeroSharding::ZeroSharding(Communicator& comm, int64_t numel)
    : comm_(comm), numel_(numel), shard_size_((numel + comm.size() - 1) / comm.size()) {}

ElementRange ZeroSharding::shard_of(int64_t numel, int rank, int ranks) {
  const int64_t size = (numel + ranks - 1) / ranks;
  return {std::min(rank * size, numel), std::min((rank + 1) * size, numel)};
}

int64_t ZeroSharding::valid(int rank, int64_t first, int64_t len) const {
  return std::clamp<int64_t>(numel_ - (rank * shard_size_ + first), 0, len);
}

int64_t ZeroSharding::piece() const {
  return std::max<int64_t>(1, static_cast<int64_t>(kStagingBytes / sizeof(float)) / comm_.size());
}

void ZeroSharding::reduce_scatter_gradients(Tensor grads) {
  if (comm_.size() == 1) return;
  const int n = comm_.size(), me = comm_.rank();
  const int64_t step = piece();
  send_.resize(static_cast<size_t>(n * step));
  recv_.resize(static_cast<size_t>(step));
  for (int64_t first = 0; first < shard_size_; first += step) {
    const int64_t len = std::min(step, shard_size_ - first);
    for (int r = 0; r < n; ++r) {
      float* row = send_.data() + r * len;  // (len): rank r's piece of this rank's gradients
      const int64_t v = valid(r, first, len), at = r * shard_size_ + first;
      if (v > 0) ops::copy(cpu_tensor(row, {v}), grads.rows(at, at + v));
      std::fill(row + v, row + len, 0.0f);
    }
    comm_.reduce_scatter_sum(cpu_tensor(recv_.data(), {len}), cpu_tensor(send_.data(), {n * len}));
    const int64_t v = valid(me, first, len), at = me * shard_size_ + first;
    if (v > 0) ops::copy(grads.rows(at, at + v), cpu_tensor(recv_.data(), {v}));
  }
}

void ZeroSharding::gather_piece(const Tensor& shard_values, int64_t first, int64_t len) {
  send_.resize(static_cast<size_t>(len));
  recv_.resize(static_cast<size_t>(comm_.size() * len));
  const int64_t v = valid(comm_.rank(), first, len);
  if (v > 0) ops::copy(cpu_tensor(send_.data(), {v}), shard_values.rows(first, first + v));
  std::fill(send_.begin() + v, send_.begin() + len, 0.0f);
  comm_.all_gather(cpu_tensor(recv_.data(), {comm_.size() * len}), cpu_tensor(send_.data(), {len}));
}

void ZeroSharding::all_gather_values(Tensor values) {
  if (comm_.size() == 1) return;
  const ElementRange mine = shard();
  const Tensor my_values = values.rows(mine.begin, mine.end);
  for (int64_t first = 0; first < shard_size_; first += piece()) {
    const int64_t len = std::min(piece(), shard_size_ - first);
    gather_piece(my_values, first, len);
    for (int r = 0; r < comm_.size(); ++r) {
      const int64_t v = valid(r, first, len), at = r * shard_size_ + first;
      if (r != comm_.rank() && v > 0)
        ops::copy(values.rows(at, at + v), cpu_tensor(recv_.data() + r * len, {v}));
    }
  }
}

void ZeroSharding::gather_to_leader(std::span<float> out, const Tensor& shard_values) {
  const bool leader = comm_.rank() == 0;
  MOE_CHECK(!leader || std::ssize(out) == numel_, "gather_to_leader: output of ", out.size(),
            " elements for ", numel_);
  for (int64_t first = 0; first < shard_size_; first += piece()) {
    const int64_t len = std::min(piece(), shard_size_ - first);
    gather_piece(shard_values, first, len);
    if (!leader) continue;
    for (int r = 0; r < comm_.size(); ++r) {
      const int64_t v = valid(r, first, len);
      std::copy_n(recv_.begin() + r * len, v, out.begin() + r * shard_size_ + first);
    }
  }
}

}  // namespace moe
