// The CUDA device's dense arithmetic rates, the denominators of model FLOPs utilisation (MFU), from
// its properties given as plain values: no CUDA call, so the rates are checked on any machine.
#pragma once
#include <string_view>

#include "core/tensor.h"

namespace moe::cuda {

// What the rates depend on: cudaDeviceProp's name and cudaDeviceGetAttribute's values.
struct DeviceRateInputs {
  std::string_view name;     // e.g. "NVIDIA H200"
  int sms = 0;               // cudaDevAttrMultiProcessorCount
  int clock_khz = 0;         // cudaDevAttrClockRate: the SM's boost clock
  int major = 0, minor = 0;  // the compute capability
};

// The dense rate of matrix multiplies whose inputs are `math` (F32: the CUDA cores' fused
// multiply-adds; BF16: the tensor cores, accumulating in fp32), FLOP/s, or 0 where it is unknown.
double peak_flops(const DeviceRateInputs& device, DType math);

}  // namespace moe::cuda
