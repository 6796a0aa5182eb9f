#include "backends/cuda/peak_rate.h"

#include "core/check.h"

namespace moe::cuda {

namespace {

// SMs x fp32 lanes per SM x 2 (a fused multiply-add) x the SM clock. The lanes per SM are those
// of the CUDA C++ Programming Guide's throughput table ("Arithmetic Instructions", 32-bit
// floating-point add, multiply, multiply-add): 64 on compute capability 6.0, 7.x and 8.0, 128 on
// the others from 5.0 on (an H200: 132 x 128 x 2 x 1.98 GHz = 66.9 T).
double fp32_flops(const DeviceRateInputs& d) {
  const bool half_lanes =
      d.major == 7 || (d.major == 6 && d.minor == 0) || (d.major == 8 && d.minor == 0);
  const double lanes = half_lanes ? 64.0 : 128.0;
  return static_cast<double>(d.sms) * lanes * 2.0 * static_cast<double>(d.clock_khz) * 1e3;
}

// NVIDIA's rated dense BF16 tensor-core rates, half the "with sparsity" figures of the H100 and
// H200 datasheets: SXM parts (H100 SXM, H200, GH200) 1,979 T sparse; H100 PCIe 1,513 T; H100 NVL
// and H200 NVL 1,671 T. They hold at a clock below the boost clock the device reports (an H200's
// 989.5 T is 132 SMs x 4,096 FLOP per clock at 1.83 GHz), so for these the rating is used.
struct RatedPart {
  std::string_view name_part;  // in cudaDeviceProp::name; the first match counts
  double bf16_flops;
};
constexpr RatedPart kRatedParts[] = {
    {" NVL", 835.5e12}, {"H100 PCIe", 756.5e12}, {"H100", 989.5e12}, {"H200", 989.5e12}};

// Dense BF16 FLOP per SM per clock of the tensor cores (fp32 accumulation): 2,048 on the A100
// (312 T = 108 SMs x 2,048 x 1.41 GHz), 4,096 on Hopper, 8,192 on Blackwell (B200: 2.25 P = 148 x
// 8,192 x 1.86 GHz); 0 where unknown.
double bf16_flops_per_sm_clock(const DeviceRateInputs& d) {
  if (d.major == 8 && d.minor == 0) return 2048.0;
  if (d.major == 9) return 4096.0;
  if (d.major == 10) return 8192.0;
  return 0.0;
}

double bf16_flops(const DeviceRateInputs& d) {
  for (const RatedPart& part : kRatedParts)
    if (d.name.find(part.name_part) != std::string_view::npos) return part.bf16_flops;
  return static_cast<double>(d.sms) * bf16_flops_per_sm_clock(d) *
         static_cast<double>(d.clock_khz) * 1e3;
}

}  // namespace

double peak_flops(const DeviceRateInputs& device, DType math) {
  switch (math) {
    case DType::F32:
      return fp32_flops(device);
    case DType::BF16:
      return bf16_flops(device);
    case DType::F64:
    case DType::I32:
      break;
  }
  fail("peak_flops: no matrix-multiply rate for ", dtype_name(math));
}

}  // namespace moe::cuda
