#include "dist/communicator.h"

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <utility>

#include "core/check.h"

namespace moe {

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  bool concurrent_threads() const override { return true; }
  void all_reduce_sum(Tensor data) override {
    collective_checks::host_tensor(data, "all_reduce_sum");
    collective_checks::float_dtype(data, "all_reduce_sum");
  }
  void broadcast(Tensor data, int root) override {
    collective_checks::host_tensor(data, "broadcast");
    MOE_CHECK(root == 0, "broadcast: root ", root, " is not a rank of a 1-process job");
  }
  void all_gather(Tensor out, const Tensor& in) override { copy_checked(out, in, "all_gather"); }
  void reduce_scatter_sum(Tensor out, const Tensor& in) override {
    collective_checks::float_dtype(in, "reduce_scatter_sum");
    copy_checked(out, in, "reduce_scatter_sum");
  }
  void all_to_all_v(Tensor out, std::span<const int64_t> recv_rows, const Tensor& in,
                    std::span<const int64_t> send_rows) override {
    collective_checks::host_tensor(in, "all_to_all_v");
    const int64_t row = collective_checks::all_to_all_rows(out, recv_rows, in, send_rows, 1);
    std::memmove(out.ptr, in.ptr, static_cast<size_t>(send_rows[0] * row) * dtype_size(in.dtype));
  }
  std::unique_ptr<Communicator> split(int, int) override { return make_single_process(); }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }

 private:
  static void copy_checked(Tensor out, const Tensor& in, const char* op) {
    collective_checks::host_tensor(out, op);
    collective_checks::host_tensor(in, op);
    collective_checks::same_dtype(out, in, op);
    collective_checks::numel_ratio(out, in, 1, 1, op);
    std::memmove(out.ptr, in.ptr, in.bytes());
  }
};

std::unique_ptr<Communicator>& world_slot() {
  static std::unique_ptr<Communicator> world = make_single_process();
  return world;
}

}  // namespace

Communicator& world() {
  return *world_slot();
}

void set_world(std::unique_ptr<Communicator> communicator) {
  world_slot() = std::move(communicator);
}

std::unique_ptr<Communicator> take_world() {
  return std::exchange(world_slot(), make_single_process());
}

Communicator::Counted::Counted(Traffic& traffic, int64_t bytes)
    : traffic_(traffic), start_(std::chrono::steady_clock::now()) {
  traffic_.bytes_sent += bytes;
}

Communicator::Counted::~Counted() {
  traffic_.seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::unique_ptr<Communicator> make_single_process() {
  return std::make_unique<SingleProcess>();
}

namespace collective_checks {

void host_tensor(const Tensor& t, const char* op) {
  MOE_CHECK(t.device == Device::CPU, op, ": tensors must be in host memory, got one on ",
            device_name(t.device));
}

void same_device(const Tensor& a, const Tensor& b, const char* op) {
  MOE_CHECK(a.device == b.device, op, ": output is on ", device_name(a.device), " but input is on ",
            device_name(b.device));
}

void float_dtype(const Tensor& t, const char* op) {
  MOE_CHECK(t.dtype == DType::F32 || t.dtype == DType::F64, op, ": takes F32 or F64, got ",
            dtype_name(t.dtype));
}

void same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  MOE_CHECK(a.dtype == b.dtype, op, ": output is ", dtype_name(a.dtype), " but input is ",
            dtype_name(b.dtype));
}

void numel_ratio(const Tensor& out, const Tensor& in, int64_t ratio_out, int64_t ratio_in,
                 const char* op) {
  MOE_CHECK(in.numel() % ratio_in == 0 && out.numel() == in.numel() / ratio_in * ratio_out, op,
            ": output has ", out.numel(), " elements for an input of ", in.numel(), " on ",
            std::max(ratio_out, ratio_in), " ranks");
}

int64_t all_to_all_rows(const Tensor& out, std::span<const int64_t> recv_rows, const Tensor& in,
                        std::span<const int64_t> send_rows, int size) {
  same_device(out, in, "all_to_all_v");
  same_dtype(out, in, "all_to_all_v");
  MOE_CHECK(in.shape.ndim >= 1 && out.shape.ndim == in.shape.ndim, "all_to_all_v: tensors ",
            out.shape.str(), " and ", in.shape.str(), " differ in rank");
  const int64_t row = in.size(0) > 0 ? in.numel() / in.size(0) : 0;
  MOE_CHECK(out.size(0) == 0 || out.numel() / out.size(0) == row, "all_to_all_v: rows of ",
            out.shape.str(), " and ", in.shape.str(), " differ");
  MOE_CHECK(std::ssize(recv_rows) == size && std::ssize(send_rows) == size,
            "all_to_all_v: needs one row count per rank (", size, ")");
  for (int s = 0; s < size; ++s)
    MOE_CHECK(recv_rows[s] >= 0 && send_rows[s] >= 0, "all_to_all_v: negative row count");
  MOE_CHECK(std::accumulate(send_rows.begin(), send_rows.end(), int64_t{0}) <= in.size(0) &&
                std::accumulate(recv_rows.begin(), recv_rows.end(), int64_t{0}) <= out.size(0),
            "all_to_all_v: row counts exceed the tensors (", in.size(0), " rows in, ", out.size(0),
            " rows out)");
  return row;
}

}  // namespace collective_checks

}  // namespace moe
