#include "ops/dispatch.h"

namespace moe::ops {

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  bool found = false;
  Device device = Device::CPU;
  for (const Tensor* t : tensors) {
    if (t == nullptr || t->empty()) continue;
    if (!found) {
      device = t->device;
      found = true;
    } else {
      MOE_CHECK(t->device == device, op, ": tensors on different devices (", device_name(device),
                " and ", device_name(t->device), ")");
    }
  }
  return device;
}

void cuda_unavailable(const char* op) {
  fail(op,
       ": this build has no CUDA backend (configure with -DMOE_CUDA=ON on a machine with nvcc)");
}

void check_shape(const char* op, const char* arg, const Tensor& t, Shape expected) {
  MOE_CHECK(t.shape == expected, op, ": ", arg, " has shape ", t.shape.str(), ", expected ",
            expected.str());
}

void check_dtype(const char* op, const char* arg, const Tensor& t, DType expected) {
  MOE_CHECK(t.dtype == expected, op, ": ", arg, " has dtype ", dtype_name(t.dtype), ", expected ",
            dtype_name(expected));
}

}  // namespace moe::ops
