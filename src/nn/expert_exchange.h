// Expert parallelism as an MoE layer sees it: the layer holds only a slice of its experts, and
// rows sorted by expert travel to the process that holds their expert and back. The transport
// (train/expert_parallel.h, over dist/) implements it; nn/ knows only this interface.
//
// The P processes of an expert-parallel group hold E / P experts each, group rank p the experts
// [p E/P, (p+1) E/P). A forward sends each process the rows of its experts (counts first, then
// rows), the experts compute them in one grouped GEMM, and the inverse exchange brings the
// outputs back; a backward sends the output gradients the same way and brings the input gradients
// back. Every process of the group must make the same calls in the same order.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace moe {

// How the rows of one forward travel, kept by the layer for its backward.
struct ExpertExchangePlan {
  std::vector<int64_t> send_rows;  // (P) rows this process sends to group rank p
  std::vector<int64_t> recv_rows;  // (P, E/P) rows of local expert e received from group rank p
  int64_t sent = 0;                // sum of send_rows: the rows the dispatch plan kept
  int64_t received = 0;            // sum of recv_rows: the rows the local experts compute
};

class ExpertExchange {
 public:
  virtual ~ExpertExchange() = default;
  int64_t group_size() const { return group_size_; }
  int64_t first_expert() const { return first_expert_; }
  int64_t local_experts() const { return local_experts_; }

  // From expert_offsets (E+1) I32 of this process's rows (read to the host: the counts travel
  // first) the plan of the exchange, and local_offsets (E/P + 1) I32 := the offsets of the rows
  // the local experts receive, in expert order, then sender order.
  virtual ExpertExchangePlan plan(Tensor local_offsets, const Tensor& expert_offsets) = 0;
  // to_experts (received, C) := the rows every group rank sends this one, grouped by local expert
  // and then by sender; rows (sent, C) are this process's rows sorted by expert.
  virtual void to_experts(Tensor to_experts, const Tensor& rows,
                          const ExpertExchangePlan& plan) = 0;
  // The inverse: rows (sent, C) := the rows this process sent, as the experts returned them;
  // from_experts (received, C) in to_experts' order.
  virtual void from_experts(Tensor rows, const Tensor& from_experts,
                            const ExpertExchangePlan& plan) = 0;

 protected:
  ExpertExchange(int64_t group_size, int64_t first_expert, int64_t local_experts)
      : group_size_(group_size), first_expert_(first_expert), local_experts_(local_experts) {}

 private:
  int64_t group_size_, first_expert_, local_experts_;
};

}  // namespace moe
