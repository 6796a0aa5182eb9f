#include "dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/check.h"

namespace moe {

namespace {

void check_nccl(ncclResult_t rc, const char* call, ncclComm_t comm = nullptr) {
  if (rc == ncclSuccess) return;
  const char* detail = comm != nullptr ? ncclGetLastError(comm) : nullptr;
  fail(call, " failed: ", ncclGetErrorString(rc),
       detail != nullptr && *detail != '\0' ? std::string(" (") + detail + ")" : std::string());
}

void check_cuda(cudaError_t rc, const char* call) {
  if (rc == cudaSuccess) return;
  (void)cudaGetLastError();  // the failed call's error would otherwise fail later launch checks
  fail(call, " failed: ", cudaGetErrorString(rc));
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return ncclFloat32;
    case DType::F64:
      return ncclFloat64;
    case DType::I32:
      return ncclInt32;
    case DType::BF16:
      return ncclBfloat16;
  }
  fail("NCCL: unknown dtype");
}

// The host name, one character per value (zero-padded), to compare across ranks.
constexpr int64_t kHostNameLength = 256;
std::vector<int32_t> host_name_values() {
  std::array<char, kHostNameLength> name{};
  MOE_CHECK(gethostname(name.data(), name.size() - 1) == 0, "gethostname failed");
  return {name.begin(), name.end()};
}

// This process's rank among the job's processes on its host: the ranks below it with the same
// host name.
int local_rank(Communicator& host) {
  std::vector<int32_t> mine = host_name_values();  // (kHostNameLength)
  std::vector<int32_t> all(static_cast<size_t>(host.size() * kHostNameLength));  // (N, length)
  host.all_gather(cpu_tensor(all.data(), Shape{host.size() * kHostNameLength}),
                  cpu_tensor(mine.data(), Shape{kHostNameLength}));
  int local = 0;
  for (int r = 0; r < host.rank(); ++r)
    if (std::equal(mine.begin(), mine.end(), all.begin() + r * kHostNameLength)) ++local;
  return local;
}

class NcclCommunicator final : public Communicator {
 public:
  // NCCL's communicator of host's ranks on the current CUDA device (every rank must call it).
  explicit NcclCommunicator(std::unique_ptr<Communicator> host) : host_(std::move(host)) {
    // Blocking: it synchronises with the legacy default stream, where the backend's kernels run.
    check_cuda(cudaStreamCreate(&stream_), "cudaStreamCreate");
    // Rank 0's id reaches the others over the host transport, as 32-bit values.
    ncclUniqueId id{};
    std::array<int32_t, sizeof(ncclUniqueId) / sizeof(int32_t)> words{};  // (32)
    static_assert(sizeof(words) == sizeof(id));
    if (host_->rank() == 0) {
      check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
      std::memcpy(words.data(), &id, sizeof(id));
    }
    host_->broadcast(cpu_tensor(words.data(), Shape{std::ssize(words)}), 0);
    std::memcpy(&id, words.data(), sizeof(id));
    check_nccl(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()), "ncclCommInitRank");
  }
  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  bool takes(Device device) const override {
    return device == Device::CPU || device == Device::CUDA;
  }
  // GPU gradients are summed after the backward pass, on this thread's stream only.
  bool concurrent_threads() const override { return false; }

  void all_reduce_sum(Tensor data) override {
    collective_checks::float_dtype(data, "all_reduce_sum");
    if (on_host(data, "all_reduce_sum"))
      return on_host_transport([&] { host_->all_reduce_sum(data); });
    // A ring all-reduce's traffic: 2 (N - 1) / N of the buffer from every rank.
    const Counted counted(traffic_, static_cast<int64_t>(data.bytes()) * 2 * (size() - 1) / size());
    check_nccl(ncclAllReduce(data.ptr, data.ptr, static_cast<size_t>(data.numel()),
                             nccl_type(data.dtype), ncclSum, comm_, stream_),
               "ncclAllReduce", comm_);
    finish();
  }

  void broadcast(Tensor data, int root) override {
    if (on_host(data, "broadcast")) return on_host_transport([&] { host_->broadcast(data, root); });
    MOE_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " is not a rank of ", size());
    const Counted counted(traffic_,
                          rank() == root ? static_cast<int64_t>(data.bytes()) * (size() - 1) : 0);
    check_nccl(ncclBroadcast(data.ptr, data.ptr, static_cast<size_t>(data.numel()),
                             nccl_type(data.dtype), root, comm_, stream_),
               "ncclBroadcast", comm_);
    finish();
  }

  void all_gather(Tensor out, const Tensor& in) override {
    collective_checks::same_device(out, in, "all_gather");
    if (on_host(in, "all_gather")) return on_host_transport([&] { host_->all_gather(out, in); });
    collective_checks::same_dtype(out, in, "all_gather");
    collective_checks::numel_ratio(out, in, size(), 1, "all_gather");
    const Counted counted(traffic_, static_cast<int64_t>(in.bytes()) * (size() - 1));
    check_nccl(ncclAllGather(in.ptr, out.ptr, static_cast<size_t>(in.numel()), nccl_type(in.dtype),
                             comm_, stream_),
               "ncclAllGather", comm_);
    finish();
  }

  void reduce_scatter_sum(Tensor out, const Tensor& in) override {
    collective_checks::same_device(out, in, "reduce_scatter_sum");
    if (on_host(in, "reduce_scatter_sum"))
      return on_host_transport([&] { host_->reduce_scatter_sum(out, in); });
    collective_checks::float_dtype(in, "reduce_scatter_sum");
    collective_checks::same_dtype(out, in, "reduce_scatter_sum");
    collective_checks::numel_ratio(out, in, 1, size(), "reduce_scatter_sum");
    const Counted counted(traffic_, static_cast<int64_t>(out.bytes()) * (size() - 1));
    check_nccl(ncclReduceScatter(in.ptr, out.ptr, static_cast<size_t>(out.numel()),
                                 nccl_type(in.dtype), ncclSum, comm_, stream_),
               "ncclReduceScatter", comm_);
    finish();
  }

  // One ncclSend and one ncclRecv per other rank with rows to exchange, in one group; this rank's
  // own rows are a device copy.
  void all_to_all_v(Tensor out, std::span<const int64_t> recv_rows, const Tensor& in,
                    std::span<const int64_t> send_rows) override {
    const int64_t row = collective_checks::all_to_all_rows(out, recv_rows, in, send_rows, size());
    if (on_host(in, "all_to_all_v"))
      return on_host_transport([&] { host_->all_to_all_v(out, recv_rows, in, send_rows); });
    const size_t elem = dtype_size(in.dtype);
    const ncclDataType_t type = nccl_type(in.dtype);
    const char* send = static_cast<const char*>(in.ptr);
    char* recv = static_cast<char*>(out.ptr);
    const Counted counted(traffic_, 0);
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < size(); ++r) {
      const size_t send_count = static_cast<size_t>(send_rows[r] * row);
      const size_t recv_count = static_cast<size_t>(recv_rows[r] * row);
      if (r == rank()) {
        check_cuda(
            cudaMemcpyAsync(recv, send, send_count * elem, cudaMemcpyDeviceToDevice, stream_),
            "cudaMemcpyAsync");
      } else {
        traffic_.bytes_sent += static_cast<int64_t>(send_count * elem);
        if (send_count > 0)
          check_nccl(ncclSend(send, send_count, type, r, comm_, stream_), "ncclSend", comm_);
        if (recv_count > 0)
          check_nccl(ncclRecv(recv, recv_count, type, r, comm_, stream_), "ncclRecv", comm_);
      }
      send += send_count * elem;
      recv += recv_count * elem;
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd", comm_);
    finish();
  }

  // The host transport's group, with NCCL's communicator of its ranks on the same devices.
  std::unique_ptr<Communicator> split(int color, int key) override {
    return std::make_unique<NcclCommunicator>(host_->split(color, key));
  }

  void barrier() override {
    on_host_transport([&] { host_->barrier(); });
  }

  [[noreturn]] void abort(int code) override {
    ncclCommAbort(comm_);  // frees the GPUs of ranks stuck in a collective
    comm_ = nullptr;
    host_->abort(code);
    std::_Exit(code);  // the host transport does not return; this keeps the promise if it did
  }

 private:
  // Whether `t` goes to the host transport (host memory) rather than NCCL (CUDA memory).
  static bool on_host(const Tensor& t, const char* op) {
    MOE_CHECK(t.device == Device::CPU || t.device == Device::CUDA, op,
              ": NCCL takes host or CUDA memory, got ", device_name(t.device));
    return t.device == Device::CPU;
  }

  // Runs a collective of the host transport, counting its traffic as this communicator's.
  template <class Collective>
  void on_host_transport(const Collective& collective) {
    const Traffic before = host_->traffic();
    collective();
    traffic_.bytes_sent += host_->traffic().bytes_sent - before.bytes_sent;
    traffic_.seconds += host_->traffic().seconds - before.seconds;
  }

  // Returns when the collective just enqueued is done, as the host transports do.
  void finish() { check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

  std::unique_ptr<Communicator> host_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

void use_local_gpu(Communicator& host) {
  const int local = local_rank(host);
  int devices = 0;
  const cudaError_t counted = cudaGetDeviceCount(&devices);
  if (counted != cudaSuccess) {
    (void)cudaGetLastError();
    devices = 0;
  }
  // Every rank learns whether some rank has no GPU of its own, so that all stop with an error
  // instead of the others waiting for it in NCCL's set-up.
  int32_t fits = local < devices ? 1 : 0;
  std::vector<int32_t> all_fit(static_cast<size_t>(host.size()));  // (N)
  host.all_gather(cpu_tensor(all_fit.data(), Shape{host.size()}), cpu_tensor(&fits, Shape{1}));
  MOE_CHECK(devices > 0, "cannot run on cuda: no CUDA device (cudaGetDeviceCount: ",
            counted == cudaSuccess ? "found 0 devices" : cudaGetErrorString(counted), ")");
  const auto short_rank = std::find(all_fit.begin(), all_fit.end(), 0);
  MOE_CHECK(short_rank == all_fit.end(), "NCCL needs one GPU per process, but rank ",
            short_rank - all_fit.begin(),
            " has none of its own (its host runs more of the job's processes than it has CUDA "
            "devices); start at most one process per GPU on each host");
  check_cuda(cudaSetDevice(local), "cudaSetDevice");
}

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host) {
  return std::make_unique<NcclCommunicator>(std::move(host));
}

}  // namespace moe
