// ZeRO-1 (Rajbhandari et al. 2020, arXiv 1910.02054, stage P_os): each of the N data-parallel
// ranks keeps the AdamW moments of one contiguous shard of the flat parameter buffers, viewed as
// (N, shard_size) with the tail padded by zeros. A step reduce-scatters the gradients (each rank
// gets the sum over the ranks of its shard's gradients, added in rank order, so the bits of the
// plain all-reduce), updates its shard, and all-gathers the updated values. Each collective moves
// (N - 1) / N of the buffer per rank: the two together move what one all-reduce does, while the
// moments take 1 / N of the memory.
//
// Every rank must call each operation, in the same order. The buffers may live on a device: they
// pass through host buckets of at most kStagingBytes.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "dist/communicator.h"
#include "train/optimizer.h"

namespace moe {

class ZeroSharding {
 public:
  // Shards a flat buffer of `numel` elements across comm's ranks.
  ZeroSharding(Communicator& comm, int64_t numel);
  // The elements of `rank`'s shard: ceil(numel / ranks) of them (fewer, or none, at the end).
  static ElementRange shard_of(int64_t numel, int rank, int ranks);
  ElementRange shard() const { return shard_of(numel_, comm_.rank(), comm_.size()); }

  // grads (numel): its shard := the sum over the ranks of their grads' shard, in rank order; the
  // other elements keep this rank's own gradients.
  void reduce_scatter_gradients(Tensor grads);
  // values (numel) := each shard as its owner holds it.
  void all_gather_values(Tensor values);
  // On rank 0, out (numel) := every rank's `shard_values` (shard) placed at its shard; the other
  // ranks pass an empty out and only send.
  void gather_to_leader(std::span<float> out, const Tensor& shard_values);

 private:
  // Elements of the piece [rank * shard_size_ + first, ... + len) that lie inside the buffer.
  int64_t valid(int rank, int64_t first, int64_t len) const;
  // The host piece length per rank: the N pieces of a collective fill at most kStagingBytes.
  int64_t piece() const;
  // recv_ (N, len) := every rank's elements [first, first + len) of `shard_values` (shard), each
  // piece zero-padded past the rank's shard.
  void gather_piece(const Tensor& shard_values, int64_t first, int64_t len);

  Communicator& comm_;
  int64_t numel_ = 0, shard_size_ = 0;
  std::vector<float> send_, recv_;  // host buckets: (N, piece) or (piece) each way
};

}  // namespace moe
