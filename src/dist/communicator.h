// The processes of a distributed job and the collective operations between them. One interface
// for every transport: a single process (the identity), MPI (mpi_communicator.cpp, built with
// MOE_MPI) and NCCL over MPI (nccl_communicator.cpp, built with MOE_NCCL). Data parallel training
// uses all_reduce_sum, broadcast, all_gather and barrier, and with sharded optimizer state (ZeRO-1)
// reduce_scatter_sum; all_to_all_v (expert parallel dispatch) is an operation the next parallel
// schemes need.
//
// Every collective must be called by every rank in the same order with matching shapes. Tensors
// live in memory the communicator takes (takes(device): host memory everywhere, GPU memory with
// NCCL): F32, F64 or I32, as each operation states. The host transports add the ranks' values in
// rank order, ((x_0 + x_1) + x_2) + ..., so a sum is the same bits on every rank, in every run and
// as one process adding them (a transport's own reduction may pick its order by message size).
// NCCL's sums of GPU tensors follow NCCL's algorithm instead (nccl_communicator.h): the same bits
// on every rank and in every run on the same machines and ranks, not one process's bits.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>

#include "core/tensor.h"

namespace moe {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;  // 0 .. size() - 1
  virtual int size() const = 0;  // number of processes
  // Whether the collectives take tensors in `device`'s memory; callers stage the others through
  // host buffers.
  virtual bool takes(Device device) const { return device == Device::CPU; }
  // Whether two threads may each run collectives at the same time, on different communicators
  // (this one and one from split()): what a thread that sums gradients during the backward pass
  // needs (train/gradient_buckets.h).
  virtual bool concurrent_threads() const = 0;

  // data := the sum of every rank's data, elementwise (in rank order but with NCCL). F32 or F64.
  virtual void all_reduce_sum(Tensor data) = 0;
  // data := root's data on every rank. Any dtype.
  virtual void broadcast(Tensor data, int root) = 0;
  // out (size * n) := every rank's in (n) in rank order. Any dtype, the same on every rank.
  virtual void all_gather(Tensor out, const Tensor& in) = 0;
  // out (n) := rows [rank * n, (rank + 1) * n) of the sum over ranks of in (size * n) (in rank
  // order but with NCCL). F32 or F64.
  virtual void reduce_scatter_sum(Tensor out, const Tensor& in) = 0;
  // Exchanges rows: in holds send_rows[0] rows for rank 0, then send_rows[1] for rank 1, ...; out
  // receives recv_rows[0] rows from rank 0, then recv_rows[1] from rank 1, ... Rows are in's and
  // out's first dimension (the rest equal). recv_rows[s] on rank r must equal send_rows[r] on s.
  virtual void all_to_all_v(Tensor out, std::span<const int64_t> recv_rows, const Tensor& in,
                            std::span<const int64_t> send_rows) = 0;
  // The sub-group of the ranks that pass the same `color`, ranked by `key` (ties by rank), as
  // MPI_Comm_split does. Every rank must call it. The result must be destroyed before this.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;
  // Returns when every rank has called it.
  virtual void barrier() = 0;
  // Ends every process of the job with exit code `code` (after the caller printed why).
  [[noreturn]] virtual void abort(int code) = 0;

  // What this process's collectives have done since it started: the payload bytes it sent to the
  // other ranks, as the transport's algorithm addresses them (the data of each of its MPI calls
  // meant for another rank; a library's own algorithm under a call may route more), and the
  // seconds spent inside collectives, waiting for slower ranks included. Zero on one process.
  struct Traffic {
    int64_t bytes_sent = 0;
    double seconds = 0.0;
  };
  const Traffic& traffic() const { return traffic_; }

 protected:
  // Counts a collective into traffic_: `bytes` sent to other ranks, and the time until the end of
  // its scope.
  class Counted {
   public:
    Counted(Traffic& traffic, int64_t bytes);
    ~Counted();
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;

   private:
    Traffic& traffic_;
    std::chrono::steady_clock::time_point start_;
  };

  Traffic traffic_;
};

// The job this process belongs to: set once at start-up (apps/main.cpp) by set_world; a single
// process until then.
Communicator& world();
void set_world(std::unique_ptr<Communicator> communicator);
// Hands the world over to the caller, leaving a single process in its place (to wrap it).
std::unique_ptr<Communicator> take_world();

// One process: rank 0 of 1; every collective leaves its output equal to its input.
std::unique_ptr<Communicator> make_single_process();

// Checks shared by the transports: host tensors, dtypes, the shapes of the collectives above.
namespace collective_checks {
void host_tensor(const Tensor& t, const char* op);
void same_device(const Tensor& a, const Tensor& b, const char* op);
void float_dtype(const Tensor& t, const char* op);
void same_dtype(const Tensor& a, const Tensor& b, const char* op);
// out.numel() == in.numel() * ratio_out / ratio_in, for all_gather (ratio_out = size) and
// reduce_scatter (ratio_in = size).
void numel_ratio(const Tensor& out, const Tensor& in, int64_t ratio_out, int64_t ratio_in,
                 const char* op);
// The row counts of all_to_all_v fit the tensors (in one memory); returns the elements per row.
int64_t all_to_all_rows(const Tensor& out, std::span<const int64_t> recv_rows, const Tensor& in,
                        std::span<const int64_t> send_rows, int size);
}  // namespace collective_checks

}  // namespace moe
