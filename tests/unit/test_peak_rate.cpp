// The CUDA device's peak rates (backends/cuda/peak_rate.h), the denominators of MFU, from device
// properties given as values: runs on any machine.
#include <gtest/gtest.h>

#include "backends/cuda/peak_rate.h"
#include "unit/scratch.h"

namespace moe {
namespace {

// An H200 as cudaGetDeviceProperties and cudaDeviceGetAttribute report it.
constexpr cuda::DeviceRateInputs kH200{
    .name = "NVIDIA H200", .sms = 132, .clock_khz = 1980000, .major = 9, .minor = 0};

TEST(PeakRate, Fp32IsTheCudaCoresFusedMultiplyAddRate) {
  // 132 SMs x 128 fp32 lanes x 2 FLOP x 1.98 GHz.
  EXPECT_DOUBLE_EQ(cuda::peak_flops(kH200, DType::F32), 132.0 * 128 * 2 * 1.98e9);
  const cuda::DeviceRateInputs a100{
      .name = "NVIDIA A100-SXM4-80GB", .sms = 108, .clock_khz = 1410000, .major = 8};
  EXPECT_DOUBLE_EQ(cuda::peak_flops(a100, DType::F32), 108.0 * 64 * 2 * 1.41e9);  // 19.5 T
}

TEST(PeakRate, Bf16IsTheRatedDenseTensorCoreRate) {
  EXPECT_DOUBLE_EQ(cuda::peak_flops(kH200, DType::BF16), 989.5e12);
  cuda::DeviceRateInputs part = kH200;
  part.name = "NVIDIA H100 80GB HBM3";  // SXM
  EXPECT_DOUBLE_EQ(cuda::peak_flops(part, DType::BF16), 989.5e12);
  part.name = "NVIDIA H100 PCIe";
  part.sms = 114;
  EXPECT_DOUBLE_EQ(cuda::peak_flops(part, DType::BF16), 756.5e12);
  part.name = "NVIDIA H200 NVL";
  EXPECT_DOUBLE_EQ(cuda::peak_flops(part, DType::BF16), 835.5e12);
  // The bf16 rate is 15 times the fp32 one on an H200: an MFU over the fp32 rate overstates.
  EXPECT_GT(cuda::peak_flops(kH200, DType::BF16), 14 * cuda::peak_flops(kH200, DType::F32));
}

TEST(PeakRate, Bf16OfAnUnratedPartIsSmsTimesTensorFlopsPerClock) {
  const cuda::DeviceRateInputs hopper{
      .name = "NVIDIA Hopper engineering sample", .sms = 100, .clock_khz = 1000000, .major = 9};
  EXPECT_DOUBLE_EQ(cuda::peak_flops(hopper, DType::BF16), 100.0 * 4096 * 1e9);
  const cuda::DeviceRateInputs blackwell{
      .name = "NVIDIA B200", .sms = 148, .clock_khz = 1855000, .major = 10};
  EXPECT_NEAR(cuda::peak_flops(blackwell, DType::BF16), 2.25e15, 0.01e15);
  const cuda::DeviceRateInputs unknown{
      .name = "NVIDIA T4", .sms = 40, .clock_khz = 1590000, .major = 7, .minor = 5};
  EXPECT_EQ(cuda::peak_flops(unknown, DType::BF16), 0.0);  // no MFU rather than a wrong one
}

TEST(PeakRate, OtherDtypesAreAnError) {
  EXPECT_EQ(testing::error_of([] { cuda::peak_flops(kH200, DType::F64); }),
            "peak_flops: no matrix-multiply rate for F64");
}

}  // namespace
}  // namespace moe
