#include "dist/mpi_communicator.h"

#include <mpi.h>

#include <climits>
#include <cstring>
#include <vector>

#include "core/check.h"

namespace moe {

namespace {

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return MPI_FLOAT;
    case DType::F64:
      return MPI_DOUBLE;
    case DType::I32:
      return MPI_INT;
    case DType::BF16:
      break;  // gradients and statistics are reduced in fp32 or fp64
  }
  fail("MPI: unknown dtype");
}

// MPI counts are int: a message is at most INT_MAX elements (callers send in buckets).
int mpi_count(int64_t n, const char* op) {
  MOE_CHECK(n >= 0 && n <= INT_MAX, op, ": ", n, " elements exceed MPI's int count");
  return static_cast<int>(n);
}

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail(call, " failed: ", std::string(text, static_cast<size_t>(len)));
}

// acc[i] += add[i] for n elements of a float dtype.
void add_into(void* acc, const void* add, int64_t n, DType dtype) {
  if (dtype == DType::F32) {
    float* a = static_cast<float*>(acc);
    const float* b = static_cast<const float*>(add);
    for (int64_t i = 0; i < n; ++i)
      a[i] += b[i];
  } else {
    double* a = static_cast<double*>(acc);
    const double* b = static_cast<const double*>(add);
    for (int64_t i = 0; i < n; ++i)
      a[i] += b[i];
  }
}

class MpiCommunicator final : public Communicator {
 public:
  // The job's world: initialises MPI, which the destructor finalises.
  MpiCommunicator(int* argc, char*** argv) : owns_mpi_(true) {
    // MPI_THREAD_MULTIPLE lets a second thread sum gradients while this one computes (and, with
    // expert parallel, exchanges rows); an MPI without it gives less, and the sums wait.
    int provided = MPI_THREAD_SINGLE;
    check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
    thread_multiple_ = provided == MPI_THREAD_MULTIPLE;
    // Errors come back as return codes (check_mpi) instead of MPI's default abort without a word.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  // A sub-group made by split(), freed by the destructor.
  MpiCommunicator(MPI_Comm comm, bool thread_multiple)
      : comm_(comm), owns_mpi_(false), thread_multiple_(thread_multiple) {
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    if (owns_mpi_)
      MPI_Finalize();
    else
      MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool concurrent_threads() const override { return thread_multiple_; }

  // A reduce-scatter in rank order, then an all-gather: rank r sums chunk r of every rank's data
  // (received with one MPI_Alltoallv) in rank order and sends the sum to all. The traffic of a
  // ring all-reduce, and the same bits on every rank whatever algorithms MPI picks.
  void all_reduce_sum(Tensor data) override {
    collective_checks::host_tensor(data, "all_reduce_sum");
    collective_checks::float_dtype(data, "all_reduce_sum");
    const int64_t n = data.numel();
    mpi_count(n, "all_reduce_sum");
    const size_t elem = dtype_size(data.dtype);
    std::vector<int> counts(size_), displs(size_);
    for (int r = 0; r < size_; ++r) {
      displs[r] = static_cast<int>(chunk_begin(n, r));
      counts[r] = static_cast<int>(chunk_begin(n, r + 1) - chunk_begin(n, r));
    }
    const int mine = counts[rank_];
    // Every chunk but its own to its owner, then its own summed chunk to every other rank.
    const Counted counted(traffic_,
                          static_cast<int64_t>(elem) * (n - mine + int64_t{mine} * (size_ - 1)));
    // (size, mine): chunk `rank` of every rank's data, in rank order.
    char* received = scratch(static_cast<size_t>(size_) * mine * elem);
    std::vector<int> recv_counts(size_, mine), recv_displs(size_);
    for (int r = 0; r < size_; ++r)
      recv_displs[r] = r * mine;
    const MPI_Datatype type = mpi_type(data.dtype);
    check_mpi(MPI_Alltoallv(data.ptr, counts.data(), displs.data(), type, received,
                            recv_counts.data(), recv_displs.data(), type, comm_),
              "MPI_Alltoallv");
    sum_rows(static_cast<char*>(data.ptr) + displs[rank_] * elem, received, mine, data.dtype);
    check_mpi(
        MPI_Allgatherv(MPI_IN_PLACE, 0, type, data.ptr, counts.data(), displs.data(), type, comm_),
        "MPI_Allgatherv");
  }

  void broadcast(Tensor data, int root) override {
    collective_checks::host_tensor(data, "broadcast");
    MOE_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of ", size_);
    const Counted counted(traffic_,
                          rank_ == root ? static_cast<int64_t>(data.bytes()) * (size_ - 1) : 0);
    check_mpi(MPI_Bcast(data.ptr, mpi_count(data.numel(), "broadcast"), mpi_type(data.dtype), root,
                        comm_),
              "MPI_Bcast");
  }

  void all_gather(Tensor out, const Tensor& in) override {
    collective_checks::host_tensor(out, "all_gather");
    collective_checks::host_tensor(in, "all_gather");
    collective_checks::same_dtype(out, in, "all_gather");
    collective_checks::numel_ratio(out, in, size_, 1, "all_gather");
    const Counted counted(traffic_, static_cast<int64_t>(in.bytes()) * (size_ - 1));
    const MPI_Datatype type = mpi_type(in.dtype);
    check_mpi(MPI_Allgather(in.ptr, mpi_count(in.numel(), "all_gather"), type, out.ptr,
                            static_cast<int>(in.numel()), type, comm_),
              "MPI_Allgather");
  }

  void reduce_scatter_sum(Tensor out, const Tensor& in) override {
    collective_checks::host_tensor(out, "reduce_scatter_sum");
    collective_checks::host_tensor(in, "reduce_scatter_sum");
    collective_checks::float_dtype(in, "reduce_scatter_sum");
    collective_checks::same_dtype(out, in, "reduce_scatter_sum");
    collective_checks::numel_ratio(out, in, 1, size_, "reduce_scatter_sum");
    const int n = mpi_count(out.numel(), "reduce_scatter_sum");
    const Counted counted(traffic_, static_cast<int64_t>(out.bytes()) * (size_ - 1));
    char* received = scratch(static_cast<size_t>(size_) * n * dtype_size(in.dtype));
    const MPI_Datatype type = mpi_type(in.dtype);
    check_mpi(MPI_Alltoall(in.ptr, n, type, received, n, type, comm_), "MPI_Alltoall");
    sum_rows(out.ptr, received, n, in.dtype);
  }

  void all_to_all_v(Tensor out, std::span<const int64_t> recv_rows, const Tensor& in,
                    std::span<const int64_t> send_rows) override {
    collective_checks::host_tensor(in, "all_to_all_v");
    const int64_t row = collective_checks::all_to_all_rows(out, recv_rows, in, send_rows, size_);
    std::vector<int> send_counts(size_), send_displs(size_), recv_counts(size_), recv_displs(size_);
    int64_t send_at = 0, recv_at = 0;
    for (int r = 0; r < size_; ++r) {
      send_counts[r] = mpi_count(send_rows[r] * row, "all_to_all_v");
      recv_counts[r] = mpi_count(recv_rows[r] * row, "all_to_all_v");
      send_displs[r] = mpi_count(send_at, "all_to_all_v");
      recv_displs[r] = mpi_count(recv_at, "all_to_all_v");
      send_at += send_counts[r];
      recv_at += recv_counts[r];
    }
    const Counted counted(
        traffic_, (send_at - send_counts[rank_]) * static_cast<int64_t>(dtype_size(in.dtype)));
    const MPI_Datatype type = mpi_type(in.dtype);
    check_mpi(MPI_Alltoallv(in.ptr, send_counts.data(), send_displs.data(), type, out.ptr,
                            recv_counts.data(), recv_displs.data(), type, comm_),
              "MPI_Alltoallv");
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    MPI_Comm sub = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split(comm_, color, key, &sub), "MPI_Comm_split");
    return std::make_unique<MpiCommunicator>(sub, thread_multiple_);
  }

  void barrier() override {
    const Counted counted(traffic_, 0);
    check_mpi(MPI_Barrier(comm_), "MPI_Barrier");
  }

  // Ends the whole job, whichever group this is.
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this keeps the promise if it did
  }

 private:
  // Element offset of rank r's chunk when n elements are split as evenly as possible.
  int64_t chunk_begin(int64_t n, int r) const { return n * r / size_; }

  // out (n) := rows[0] + rows[1] + ... + rows[size - 1], each row n elements, added in rank order.
  void sum_rows(void* out, const char* rows, int64_t n, DType dtype) const {
    const size_t row_bytes = static_cast<size_t>(n) * dtype_size(dtype);
    std::memcpy(out, rows, row_bytes);
    for (int r = 1; r < size_; ++r)
      add_into(out, rows + r * row_bytes, n, dtype);
  }

  char* scratch(size_t bytes) {
    if (scratch_.size() < bytes) scratch_.resize(bytes);
    return scratch_.data();
  }

  MPI_Comm comm_ = MPI_COMM_WORLD;
  bool owns_mpi_;                 // the world: MPI_Finalize on destruction
  bool thread_multiple_ = false;  // MPI_Init_thread provided MPI_THREAD_MULTIPLE
  int rank_ = 0, size_ = 1;
  std::vector<char> scratch_;  // received chunks of the sums, reused between calls
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(int* argc, char*** argv) {
  return std::make_unique<MpiCommunicator>(argc, argv);
}

}  // namespace moe
