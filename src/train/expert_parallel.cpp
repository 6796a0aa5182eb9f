#include "train/expert_parallel.h"

#include <algorithm>
#include <functional>
#include <numeric>

#include "core/check.h"
#include "model/host_staging.h"
#include "ops/device.h"
#include "ops/elementwise.h"
#include "train/data_parallel.h"

namespace moe {

namespace {

// The runs of consecutive parameters that are all expert slices or all held whole: fn(slice,
// first element, end element) of the flat buffers, in order.
void for_each_run(const ParamTable& params, const std::function<void(bool, int64_t, int64_t)>& fn) {
  const auto& list = params.params();
  for (size_t i = 0; i < list.size();) {
    size_t j = i;
    while (j < list.size() && list[j].expert_slice == list[i].expert_slice)
      ++j;
    fn(list[i].expert_slice, list[i].offset, list[j - 1].offset + list[j - 1].shape.numel());
    i = j;
  }
}

// Rows of each sender, (P): the sums of the plan's (P, E/P) received counts.
std::vector<int64_t> received_per_sender(const ExpertExchangePlan& plan, int64_t senders) {
  const int64_t local = std::ssize(plan.recv_rows) / senders;
  std::vector<int64_t> out(static_cast<size_t>(senders), 0);
  for (int64_t s = 0; s < senders; ++s)
    for (int64_t j = 0; j < local; ++j)
      out[s] += plan.recv_rows[s * local + j];
  return out;
}

// The received rows in segments of one (local expert j, sender s): fn(expert-major row,
// sender-major row, rows) for each non-empty segment, in expert-major order (the grouped GEMM's:
// expert by expert, each expert's rows sender by sender). all_to_all_v delivers them sender-major
// (sender by sender, each sender's rows in expert order); to_experts and from_experts copy between
// the two orders in opposite directions.
void for_each_segment(const ExpertExchangePlan& plan, int64_t senders,
                      const std::function<void(int64_t, int64_t, int64_t)>& fn) {
  const int64_t local = std::ssize(plan.recv_rows) / senders;
  std::vector<int64_t> starts(plan.recv_rows.size());  // (P, E/P) sender-major starts
  std::exclusive_scan(plan.recv_rows.begin(), plan.recv_rows.end(), starts.begin(), int64_t{0});
  int64_t at = 0;
  for (int64_t j = 0; j < local; ++j) {
    for (int64_t s = 0; s < senders; ++s) {
      const int64_t n = plan.recv_rows[s * local + j];
      if (n == 0) continue;
      fn(at, starts[s * local + j], n);
      at += n;
    }
  }
}

// A host view of at least one row of `width` (all_to_all_v sizes rows by its tensors).
Tensor host_rows(std::vector<float>& buffer, int64_t rows, int64_t width) {
  rows = std::max<int64_t>(rows, 1);
  buffer.resize(static_cast<size_t>(rows * width));
  return cpu_tensor(buffer.data(), Shape{rows, width});
}

void check_rows(const Tensor& t, const char* what) {
  MOE_CHECK(t.dtype == DType::F32 && t.shape.ndim == 2, "expert parallel: ", what,
            " must be F32 rows, got ", dtype_name(t.dtype), " ", t.shape.str());
}

}  // namespace

void check_expert_parallel(int64_t size, int ranks, int64_t n_experts) {
  MOE_CHECK(size >= 1 && ranks % size == 0, "dist.expert_parallel = ", size,
            " must divide the job's ", ranks, " processes (mpirun -np); each group of ", size,
            " consecutive ranks shares the experts");
  MOE_CHECK(n_experts % size == 0, "dist.expert_parallel = ", size,
            " must divide model.n_experts = ", n_experts, " (each process holds as many experts)");
}

ExpertParallel::ExpertParallel(Communicator& world, int64_t size, int64_t n_experts)
    : ExpertExchange(size, world.rank() % size * (n_experts / size), n_experts / size),
      world_(world),
      group_(world.split(static_cast<int>(world.rank() / size), world.rank())),
      replicas_(world.split(static_cast<int>(world.rank() % size), world.rank())) {
  check_expert_parallel(size, world.size(), n_experts);
}

ExpertExchangePlan ExpertParallel::plan(Tensor local_offsets, const Tensor& expert_offsets) {
  const int64_t e = expert_offsets.numel() - 1, groups = group_size(), local = local_experts();
  MOE_CHECK(e == groups * local, "expert parallel: ", e, " expert offsets for ", groups * local,
            " experts");
  std::vector<int32_t> offsets(static_cast<size_t>(e + 1));  // (E+1)
  ops::copy(cpu_tensor(offsets.data(), Shape{e + 1}), expert_offsets);
  std::vector<int32_t> counts(static_cast<size_t>(e)), received(static_cast<size_t>(e));  // (E)
  for (int64_t i = 0; i < e; ++i)
    counts[i] = offsets[i + 1] - offsets[i];
  // Counts first: group rank p gets this rank's counts of its E/P experts.
  const std::vector<int64_t> per_rank(static_cast<size_t>(groups), local);
  group_->all_to_all_v(cpu_tensor(received.data(), Shape{e}), per_rank,
                       cpu_tensor(counts.data(), Shape{e}), per_rank);
  ExpertExchangePlan plan;
  plan.send_rows.assign(static_cast<size_t>(groups), 0);
  for (int64_t i = 0; i < e; ++i)
    plan.send_rows[i / local] += counts[i];
  plan.sent = offsets[e];
  plan.recv_rows.assign(received.begin(), received.end());
  std::vector<int32_t> local_host(static_cast<size_t>(local + 1), 0);  // (E/P + 1)
  for (int64_t j = 0; j < local; ++j) {
    int64_t rows = 0;
    for (int64_t s = 0; s < groups; ++s)
      rows += received[s * local + j];
    local_host[j + 1] = static_cast<int32_t>(local_host[j] + rows);
  }
  plan.received = local_host[local];
  ops::copy(local_offsets, cpu_tensor(local_host.data(), Shape{local + 1}));
  return plan;
}

void ExpertParallel::to_experts(Tensor to_experts, const Tensor& rows,
                                const ExpertExchangePlan& plan) {
  check_rows(rows, "rows");
  check_rows(to_experts, "received rows");
  const int64_t width = rows.size(1), groups = group_size();
  const Tensor send = host_rows(send_, plan.sent, width);
  const Tensor recv = host_rows(recv_, plan.received, width);
  if (plan.sent > 0) ops::copy(send.rows(0, plan.sent), rows);
  group_->all_to_all_v(recv, received_per_sender(plan, groups), send, plan.send_rows);
  // Sender-major as delivered -> expert-major for the grouped GEMM.
  for_each_segment(plan, groups, [&](int64_t expert_row, int64_t sender_row, int64_t n) {
    ops::copy(to_experts.rows(expert_row, expert_row + n), recv.rows(sender_row, sender_row + n));
  });
}

void ExpertParallel::from_experts(Tensor rows, const Tensor& from_experts,
                                  const ExpertExchangePlan& plan) {
  check_rows(rows, "rows");
  check_rows(from_experts, "expert rows");
  const int64_t width = rows.size(1), groups = group_size();
  const Tensor send = host_rows(recv_, plan.received, width);
  const Tensor back = host_rows(send_, plan.sent, width);
  // Expert-major -> sender-major, the inverse of to_experts.
  for_each_segment(plan, groups, [&](int64_t expert_row, int64_t sender_row, int64_t n) {
    ops::copy(send.rows(sender_row, sender_row + n), from_experts.rows(expert_row, expert_row + n));
  });
  group_->all_to_all_v(back, plan.send_rows, send, received_per_sender(plan, groups));
  if (plan.sent > 0) ops::copy(rows, back.rows(0, plan.sent));
}

void ExpertParallel::sum_gradients(const ParamTable& params) {
  const Tensor grads = params.flat_grads();  // (numel)
  for_each_run(params, [&](bool slice, int64_t begin, int64_t end) {
    Communicator& comm = slice ? *replicas_ : world_;
    if (comm.size() > 1) all_reduce_staged(comm, grads.rows(begin, end), bucket_);
  });
}

double ExpertParallel::grad_sum_squares(const ParamTable& params) {
  if (!arena_) {
    arena_ = std::make_unique<Arena>(ops::device_memory(params.device()));
    square_sum_ = arena_->alloc(Shape{1}, DType::F64);
  }
  const Tensor grads = params.flat_grads();  // (numel)
  double whole = 0.0, slices = 0.0;
  for_each_run(params, [&](bool slice, int64_t begin, int64_t end) {
    double run = 0.0;
    ops::sum_squares(square_sum_, grads.rows(begin, end));
    ops::copy(cpu_tensor(&run, Shape{1}), square_sum_);
    (slice ? slices : whole) += run;
  });
  // Each rank of the group holds other experts: their squares add up to the layer's.
  group_->all_reduce_sum(cpu_tensor(&slices, Shape{1}));
  return whole + slices;
}

void ExpertParallel::gather_whole(std::span<float> whole, const Tensor& values,
                                  const ParamTable& params, const ParamTable& layout) {
  if (world_.rank() >= group_size()) return;  // a replica of the first group's values
  const bool leader = world_.rank() == 0;
  const int64_t groups = group_size();
  MOE_CHECK(!leader || std::ssize(whole) == layout.numel(), "gather_whole: output of ",
            whole.size(), " elements for a model of ", layout.numel());
  const std::vector<int64_t> offsets = leader ? params.offsets_in(layout) : std::vector<int64_t>{};
  const int64_t piece = std::max<int64_t>(1, kStagingBytes / sizeof(float) / groups);
  int64_t placed = 0;
  for (const Param& p : params.params()) {
    const int64_t n = p.shape.numel();
    const Tensor mine = values.rows(p.offset, p.offset + n);  // (n)
    if (!p.expert_slice) {
      if (leader) ops::copy(cpu_tensor(whole.data() + offsets[p.index], Shape{n}), mine);
      placed += n;
      continue;
    }
    // The experts of one projection are consecutive in the whole table, so group rank r's
    // counterpart of this parameter (its expert r E/P later) lies r E/P parameters further.
    for (int64_t first = 0; first < n; first += piece) {
      const int64_t len = std::min(piece, n - first);
      send_.resize(static_cast<size_t>(len));
      recv_.resize(static_cast<size_t>(groups * len));
      ops::copy(cpu_tensor(send_.data(), Shape{len}), mine.rows(first, first + len));
      group_->all_gather(cpu_tensor(recv_.data(), Shape{groups * len}),
                         cpu_tensor(send_.data(), Shape{len}));
      if (!leader) continue;
      for (int64_t r = 0; r < groups; ++r)
        std::copy_n(recv_.begin() + r * len, len,
                    whole.begin() + offsets[p.index] + r * local_experts() * n + first);
    }
    placed += groups * n;
  }
  MOE_CHECK(placed == layout.numel(), "gather_whole: the group holds ", placed, " of the ",
            layout.numel(), " parameters of the whole model");
}

}  // namespace moe
