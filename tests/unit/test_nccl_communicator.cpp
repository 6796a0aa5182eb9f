// The NCCL transport (dist/nccl_communicator.h) as a job of one process on one GPU: every
// collective on GPU tensors (NCCL's calls, a copy on one rank) and on host tensors (the host
// transport's). Several ranks need a GPU each (NCCL refuses two ranks on one device), so a machine
// with one GPU checks the calls, not the sums over ranks. Skipped, with the reason, on a build
// without NCCL or a machine without a GPU.
#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <vector>

#include "backends/registry.h"
#include "core/arena.h"
#include "dist/communicator.h"
#include "dist/nccl_communicator.h"
#include "ops/device.h"
#include "ops/elementwise.h"
#include "unit/scratch.h"

namespace moe {
namespace {

TEST(Communicator, HostTransportTakesHostMemoryOnly) {
  const std::unique_ptr<Communicator> single = make_single_process();
  EXPECT_TRUE(single->takes(Device::CPU));
  EXPECT_FALSE(single->takes(Device::CUDA));
}

class NcclCommunicator : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef MOE_NCCL
    if (find_backend(Device::CUDA) == nullptr)
      GTEST_SKIP() << "no NCCL check: " << missing_backend_reason(Device::CUDA);
    comm_ = make_nccl_communicator(make_single_process());
    arena_ = std::make_unique<Arena>(ops::device_memory(Device::CUDA));
#else
    GTEST_SKIP() << "no NCCL check: this build has no NCCL transport (it needs MOE_CUDA, MOE_MPI "
                    "and NCCL)";
#endif
  }

  // A GPU tensor of `shape` holding 1, 2, 3, ... (F32) or zeros (other dtypes).
  Tensor gpu(Shape shape, DType dtype = DType::F32) {
    Tensor t = arena_->alloc(shape, dtype);
    if (dtype == DType::F32) {
      std::vector<float> values(static_cast<size_t>(shape.numel()));
      std::iota(values.begin(), values.end(), 1.0f);
      ops::copy(t, cpu_tensor(values.data(), shape));
    }
    return t;
  }
  static std::vector<float> host(const Tensor& t) {
    std::vector<float> values(static_cast<size_t>(t.numel()));
    ops::copy(cpu_tensor(values.data(), t.shape), t);
    return values;
  }

  std::unique_ptr<Communicator> comm_;
  std::unique_ptr<Arena> arena_;
};

TEST_F(NcclCommunicator, TakesHostAndGpuMemory) {
  EXPECT_EQ(comm_->rank(), 0);
  EXPECT_EQ(comm_->size(), 1);
  EXPECT_TRUE(comm_->takes(Device::CPU));
  EXPECT_TRUE(comm_->takes(Device::CUDA));
}

TEST_F(NcclCommunicator, SumsOfOneRankAreItsValues) {
  const Tensor data = gpu(Shape{5});
  comm_->all_reduce_sum(data);
  EXPECT_EQ(host(data), (std::vector<float>{1, 2, 3, 4, 5}));
  const Tensor in = gpu(Shape{6});
  const Tensor out = arena_->alloc(Shape{6});  // zeros: a call that did nothing would show
  comm_->reduce_scatter_sum(out, in);
  EXPECT_EQ(host(out), host(in));
  // F64 too: the statistics' sums.
  std::vector<double> values = {0.5, -2.25};
  const Tensor f64 = arena_->alloc(Shape{2}, DType::F64);
  ops::copy(f64, cpu_tensor(values.data(), Shape{2}));
  comm_->all_reduce_sum(f64);
  std::vector<double> back(2);
  ops::copy(cpu_tensor(back.data(), Shape{2}), f64);
  EXPECT_EQ(back, values);
  EXPECT_EQ(comm_->traffic().bytes_sent, 0);  // nothing goes to another rank
}

TEST_F(NcclCommunicator, GathersBroadcastsAndExchangesRows) {
  const Tensor in = gpu(Shape{4});
  const Tensor gathered = arena_->alloc(Shape{4});
  comm_->all_gather(gathered, in);
  EXPECT_EQ(host(gathered), host(in));
  const Tensor data = gpu(Shape{3});
  comm_->broadcast(data, 0);
  EXPECT_EQ(host(data), (std::vector<float>{1, 2, 3}));
  // 3 rows of 2 to this rank itself, into a buffer of 4 rows whose last stays as it was.
  const Tensor rows = gpu(Shape{3, 2});
  const Tensor received = arena_->alloc(Shape{4, 2});
  const std::vector<int64_t> counts = {3};
  comm_->all_to_all_v(received, counts, rows, counts);
  EXPECT_EQ(host(received), (std::vector<float>{1, 2, 3, 4, 5, 6, 0, 0}));
}

TEST_F(NcclCommunicator, HostTensorsGoToTheHostTransport) {
  std::vector<float> values = {1, 2}, gathered(2, 0.0f);
  comm_->all_reduce_sum(cpu_tensor(values.data(), Shape{2}));
  comm_->all_gather(cpu_tensor(gathered.data(), Shape{2}), cpu_tensor(values.data(), Shape{2}));
  EXPECT_EQ(gathered, values);
  comm_->barrier();
}

TEST_F(NcclCommunicator, SplitGivesAnNcclGroup) {
  const std::unique_ptr<Communicator> group = comm_->split(0, 0);
  EXPECT_EQ(group->size(), 1);
  EXPECT_TRUE(group->takes(Device::CUDA));
  const Tensor in = gpu(Shape{2});
  const Tensor out = arena_->alloc(Shape{2});
  group->all_gather(out, in);
  EXPECT_EQ(host(out), (std::vector<float>{1, 2}));
}

TEST_F(NcclCommunicator, RefusesMixedMemoryAndIntegerSums) {
  std::vector<float> values(2);
  const Tensor device = gpu(Shape{2});
  EXPECT_EQ(
      testing::error_of([&] { comm_->all_gather(device, cpu_tensor(values.data(), Shape{2})); }),
      "all_gather: output is on cuda but input is on cpu");
  const Tensor ints = gpu(Shape{2}, DType::I32);
  EXPECT_EQ(testing::error_of([&] { comm_->all_reduce_sum(ints); }),
            "all_reduce_sum: takes F32 or F64, got I32");
}

}  // namespace
}  // namespace moe
