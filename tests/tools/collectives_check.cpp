// Checks every collective of the job's communicator (dist/communicator.h) against the same
// operation computed on the host from every rank's inputs, bit for bit: run it as one process
// (the identity) and under mpirun -np N (the MPI transport). Each rank's inputs are a function of
// (rank, index), so every rank can compute what all of them sent. Prints one line per
// collective from rank 0 and exits 1 on the first mismatch.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dist/launch.h"

namespace {

moe::Communicator* comm = nullptr;

// Rank r's element i: large on rank 0 and small elsewhere, so that adding in another order than
// rank order rounds differently (1e8 + 4 + 4 is 1e8 in float rank by rank, 1e8 + 8 otherwise).
template <typename T>
T value(int r, int64_t i) {
  return r == 0 ? static_cast<T>(1e8 + 8.0 * static_cast<double>(i % 7))
                : static_cast<T>(4 + i % 3);
}

template <typename T>
std::vector<T> inputs(int r, int64_t n) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[i] = value<T>(r, i);
  return v;
}

// Element i of the rank-order sum.
template <typename T>
T rank_order_sum(int64_t i) {
  T s = value<T>(0, i);
  for (int r = 1; r < comm->size(); ++r)
    s += value<T>(r, i);
  return s;
}

void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "collectives: rank %d: %s is wrong\n", comm->rank(), what.c_str());
    comm->abort(1);
  }
  if (comm->rank() == 0) std::printf("ok: %s on %d ranks\n", what.c_str(), comm->size());
}

template <typename T>
void check_all_reduce(int64_t n, const char* name) {
  std::vector<T> data = inputs<T>(comm->rank(), n);  // (n)
  comm->all_reduce_sum(moe::cpu_tensor(data.data(), {n}));
  bool ok = true;
  for (int64_t i = 0; i < n; ++i)
    ok &= data[i] == rank_order_sum<T>(i);
  expect(ok, std::string("all_reduce_sum ") + name + " of " + std::to_string(n) +
                 " elements (rank order)");
}

void check_reduce_scatter(int64_t n) {
  const int size = comm->size();
  std::vector<double> in = inputs<double>(comm->rank(), n * size), out(n);  // (size * n), (n)
  comm->reduce_scatter_sum(moe::cpu_tensor(out.data(), {n}),
                           moe::cpu_tensor(in.data(), {n * size}));
  bool ok = true;
  for (int64_t i = 0; i < n; ++i)
    ok &= out[i] == rank_order_sum<double>(comm->rank() * n + i);
  expect(ok, "reduce_scatter_sum F64");
}

void check_broadcast_and_gather() {
  const int size = comm->size(), root = size - 1;
  std::vector<int32_t> data = {comm->rank(), 7 * comm->rank()};  // (2)
  comm->broadcast(moe::cpu_tensor(data.data(), {2}), root);
  expect(data[0] == root && data[1] == 7 * root, "broadcast I32 from the last rank");
  std::vector<float> mine = {static_cast<float>(comm->rank()), 0.5f};  // (2)
  std::vector<float> all(2 * static_cast<size_t>(size));               // (size, 2)
  comm->all_gather(moe::cpu_tensor(all.data(), {2 * size}), moe::cpu_tensor(mine.data(), {2}));
  bool ok = true;
  for (int r = 0; r < size; ++r)
    ok &= all[2 * r] == static_cast<float>(r) && all[2 * r + 1] == 0.5f;
  expect(ok, "all_gather F32");
}

// Rank s sends (s + d) % 3 rows of 2 values to rank d, each row (s, d, j) encoded.
void check_all_to_all_v() {
  const int size = comm->size(), me = comm->rank();
  auto rows = [](int s, int d) { return static_cast<int64_t>((s + d) % 3); };
  std::vector<int64_t> send_rows(size), recv_rows(size);
  std::vector<float> in, expected;  // (rows, 2)
  for (int d = 0; d < size; ++d) {
    send_rows[d] = rows(me, d);
    for (int64_t j = 0; j < send_rows[d]; ++j)
      in.insert(in.end(), {static_cast<float>(100 * me + d), static_cast<float>(j)});
  }
  for (int s = 0; s < size; ++s) {
    recv_rows[s] = rows(s, me);
    for (int64_t j = 0; j < recv_rows[s]; ++j)
      expected.insert(expected.end(), {static_cast<float>(100 * s + me), static_cast<float>(j)});
  }
  in.resize(std::max<size_t>(in.size(), 2));  // at least one row, so the shapes say (rows, 2)
  std::vector<float> out(std::max<size_t>(expected.size(), 2), -1.0f);
  comm->all_to_all_v(moe::cpu_tensor(out.data(), {std::ssize(out) / 2, 2}), recv_rows,
                     moe::cpu_tensor(in.data(), {std::ssize(in) / 2, 2}), send_rows);
  out.resize(expected.size());
  expect(out == expected, "all_to_all_v F32 rows with uneven counts");
}

}  // namespace

int main(int argc, char** argv) {
  moe::set_world(moe::communicator_for_launch(&argc, &argv));
  comm = &moe::world();
  check_all_reduce<float>(1, "F32");
  check_all_reduce<float>(1000003, "F32");  // not a multiple of the ranks
  check_all_reduce<double>(17, "F64");
  check_reduce_scatter(5);
  check_broadcast_and_gather();
  check_all_to_all_v();
  comm->barrier();
  return 0;
}
