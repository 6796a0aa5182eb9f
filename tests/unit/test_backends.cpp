// The backend table and registry, device memory through Arena, and the device and dtype checks
// every op makes before it reaches a kernel.
#include <gtest/gtest.h>
#ifdef MOE_CUDA
#include <cuda_runtime.h>
#endif

#include <cstdlib>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "core/arena.h"
#include "core/check.h"
#include "ops/activation.h"
#include "ops/device.h"
#include "ops/elementwise.h"
#include "ops/layernorm.h"
#include "scratch.h"
#include "test_util.h"

namespace moe {
namespace {

using testing::error_of;
using testing::random_vector;
using testing::rel_error;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(Backends, CpuBackendOffersF32AndF64InHostMemory) {
  const Backend* cpu = find_backend(Device::CPU);
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(missing_backend_reason(Device::CPU), nullptr);
  EXPECT_STREQ(cpu->name, "cpu");
  EXPECT_EQ(cpu->device, Device::CPU);
  EXPECT_TRUE(cpu->offers(DType::F32));
  EXPECT_TRUE(cpu->offers(DType::F64));
  EXPECT_FALSE(cpu->offers(DType::I32));
  EXPECT_TRUE(cpu->host_memory);
  EXPECT_EQ(cpu->memory.device, Device::CPU);
  EXPECT_STRNE(ops::kernel_library(Device::CPU), "");
}

#ifndef MOE_CUDA
// A CUDA tensor in a build without the CUDA backend: every op names itself and the fix, and the
// host refuses to read the tensor, before any memory is touched.
TEST(Backends, DeviceWithoutBackendIsAClearError) {
  EXPECT_EQ(find_backend(Device::CUDA), nullptr);
  const std::string reason = missing_backend_reason(Device::CUDA);
  EXPECT_TRUE(contains(reason, "this build has no CUDA backend")) << reason;
  EXPECT_TRUE(contains(reason, "-DMOE_CUDA=ON")) << reason;

  std::vector<float> host(6);
  Tensor x{host.data(), Shape{2, 3}, DType::F32, Device::CUDA};
  const std::string msg = error_of([&] { ops::relu_forward(x, x); });
  EXPECT_EQ(msg, "relu_forward: " + reason);
  EXPECT_TRUE(contains(error_of([&] { ops::device_memory(Device::CUDA); }), reason));
  for (const std::string& read : {error_of([&] { x.f32(); }), error_of([&] {
                                    Tensor{x.ptr, x.shape, DType::F64, x.device}.f64();
                                  }),
                                  error_of([&] {
                                    Tensor{x.ptr, x.shape, DType::I32, x.device}.i32();
                                  })})
    EXPECT_TRUE(contains(read, "cuda memory cannot be read on the host")) << read;
}
#endif

#ifdef MOE_CUDA
// The CUDA table is compiled in: the registry hands it out exactly when the machine has a CUDA
// device, and otherwise says why, naming the call that found none; every op then fails with it.
TEST(Backends, CudaBackendIsThereExactlyWhenTheMachineHasADevice) {
  int count = 0;
  const bool has_device = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  (void)cudaGetLastError();  // a failed query stays the last error otherwise
  const Backend* cuda = find_backend(Device::CUDA);
  if (!has_device) {
    EXPECT_EQ(cuda, nullptr);
    const char* reason = missing_backend_reason(Device::CUDA);
    ASSERT_NE(reason, nullptr);
    EXPECT_TRUE(contains(reason, "no CUDA device (cudaGetDeviceCount")) << reason;
    std::vector<float> host(6);
    Tensor x{host.data(), Shape{2, 3}, DType::F32, Device::CUDA};
    EXPECT_EQ(error_of([&] { ops::relu_forward(x, x); }), std::string("relu_forward: ") + reason);
    return;
  }
  ASSERT_NE(cuda, nullptr);
  EXPECT_EQ(missing_backend_reason(Device::CUDA), nullptr);
  EXPECT_STREQ(cuda->name, "cuda");
  EXPECT_EQ(cuda->device, Device::CUDA);
  EXPECT_TRUE(cuda->offers(DType::F32));
  EXPECT_FALSE(cuda->offers(DType::F64));
  EXPECT_FALSE(cuda->host_memory);
  EXPECT_EQ(cuda->memory.device, Device::CUDA);
  const std::string library = ops::kernel_library(Device::CUDA);
  EXPECT_TRUE(contains(library, "cuBLAS ")) << library;
}
#endif

TEST(Backends, TensorsOfOneCallShareADevice) {
  std::vector<float> a(6), b(6);
  Tensor on_cpu = cpu_tensor(a.data(), {2, 3});
  Tensor on_cuda{b.data(), Shape{2, 3}, DType::F32, Device::CUDA};
  const std::string msg = error_of([&] { ops::add(on_cpu, on_cpu, on_cuda); });
  EXPECT_TRUE(contains(msg, "add: tensors on different devices (cpu and cuda)")) << msg;
}

// The same ops run in F64 (the fp64 reference of the backend-ops harness); the floating-point
// tensors of a call must share one dtype, and index tensors are not floating-point.
TEST(Backends, OpsRunInF64AndCheckDtypes) {
  const int64_t N = 3, C = 8;
  const std::vector<double> x64 = random_vector<double>(N * C, 1), w64(C, 1.5);
  std::vector<float> x32(x64.begin(), x64.end()), w32(w64.begin(), w64.end());
  std::vector<double> out64(N * C), mean64(N), rstd64(N);
  std::vector<float> out32(N * C), mean32(N), rstd32(N);
  std::vector<double> x64c = x64, w64c = w64;
  ops::layernorm_forward(cpu_tensor(out64.data(), {N, C}), cpu_tensor(mean64.data(), {N}),
                         cpu_tensor(rstd64.data(), {N}), cpu_tensor(x64c.data(), {N, C}),
                         cpu_tensor(w64c.data(), {C}), Tensor{}, 1e-5f);
  ops::layernorm_forward(cpu_tensor(out32.data(), {N, C}), cpu_tensor(mean32.data(), {N}),
                         cpu_tensor(rstd32.data(), {N}), cpu_tensor(x32.data(), {N, C}),
                         cpu_tensor(w32.data(), {C}), Tensor{}, 1e-5f);
  EXPECT_LE(rel_error(out32, out64), 1e-6);

  const std::string mixed = error_of([&] {
    ops::layernorm_forward(cpu_tensor(out64.data(), {N, C}), cpu_tensor(mean64.data(), {N}),
                           cpu_tensor(rstd64.data(), {N}), cpu_tensor(x64c.data(), {N, C}),
                           cpu_tensor(w32.data(), {C}), Tensor{}, 1e-5f);
  });
  EXPECT_EQ(mixed, "layernorm_forward: w has dtype F32, expected F64");
  std::vector<int32_t> ids(N * C);
  const std::string ints = error_of([&] { ops::fill(cpu_tensor(ids.data(), {N, C}), 1.0f); });
  EXPECT_EQ(ints, "fill: t has dtype I32, expected a floating-point dtype (F32 or F64)");
}

// A DeviceMemory that counts its calls, over host memory.
int allocations = 0, frees = 0, zeroed = 0;
bool out_of_memory = false;
void* counting_allocate(size_t bytes) {
  ++allocations;
  return out_of_memory ? nullptr : std::aligned_alloc(64, bytes);
}
void counting_free(void* p) {
  ++frees;
  std::free(p);
}
void counting_zero(void* p, size_t bytes) {
  ++zeroed;
  ops::device_memory(Device::CPU).zero(p, bytes);
}
const DeviceMemory kCountingMemory{Device::CPU, counting_allocate, counting_free, counting_zero,
                                   nullptr,     nullptr,           nullptr};

TEST(Arena, GetsZeroedBlocksFromItsDeviceMemory) {
  allocations = frees = zeroed = 0;
  {
    Arena arena(kCountingMemory, 1024);
    Tensor a = arena.alloc({100});  // 400 bytes: the first 1024-byte block
    Tensor b = arena.alloc({100});
    EXPECT_EQ(allocations, 1);
    Tensor c = arena.alloc({1000});  // does not fit: a block of its own
    EXPECT_EQ(allocations, 2);
    EXPECT_EQ(zeroed, 2);
    EXPECT_EQ(arena.device(), Device::CPU);
    for (const Tensor& t : {a, b, c})
      for (int64_t i = 0; i < t.numel(); ++i)
        ASSERT_EQ(t.f32()[i], 0.0f);
    EXPECT_EQ(frees, 0);
  }
  EXPECT_EQ(frees, 2);

  out_of_memory = true;
  Arena arena(kCountingMemory, 1024);
  const std::string msg = error_of([&] { arena.alloc({10}); });
  out_of_memory = false;
  EXPECT_EQ(msg, "out of cpu memory allocating 1024 bytes");
}

}  // namespace
}  // namespace moe
