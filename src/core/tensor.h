// A non-owning view of a buffer: pointer, shape (up to 4 dims, row-major, contiguous), dtype
// and device. Memory is owned by an Arena; tensors are cheap to copy and pass by value.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace moe {

// BF16: bfloat16 (core/half.h), the GEMM inputs of mixed-precision training (train.precision).
enum class DType : uint8_t { F32, F64, I32, BF16 };
enum class Device : uint8_t { CPU, CUDA };
// Every device, for code that visits each (the backend-ops harness).
inline constexpr Device kAllDevices[] = {Device::CPU, Device::CUDA};

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
const char* device_name(Device device);
// The device named `name` ("cpu", "cuda"), or nullopt when none is.
std::optional<Device> device_from_name(std::string_view name);
// Every device's name, for messages: "cpu, cuda".
std::string device_names();

struct Shape {
  static constexpr int kMaxDims = 4;
  std::array<int64_t, kMaxDims> dims{};
  int ndim = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d);
  int64_t numel() const;
  // Dimension i; negative i counts from the end (-1 is the last).
  int64_t operator[](int i) const;
  bool operator==(const Shape& other) const;
  std::string str() const;  // "(2, 3, 4)"
};

struct Tensor {
  void* ptr = nullptr;
  Shape shape;
  DType dtype = DType::F32;
  Device device = Device::CPU;

  bool empty() const { return ptr == nullptr; }
  int64_t numel() const { return shape.numel(); }
  int64_t size(int i) const { return shape[i]; }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  // Host pointers to the elements: each checks the dtype, and that the memory is the host's (a
  // tensor on a device must be copied to a CPU tensor first, with ops::copy).
  float* f32() const;
  double* f64() const;
  int32_t* i32() const;
  uint16_t* bf16() const;  // the raw bfloat16 bits
  // The same memory with another shape of equal element count.
  Tensor view(Shape new_shape) const;
  // The first new_shape.numel() elements viewed as new_shape (buffers sized for the largest call).
  Tensor prefix(Shape new_shape) const;
  // Rows [begin, end) of the first dimension.
  Tensor rows(int64_t begin, int64_t end) const;
};

// Wraps caller-owned memory (tests, tools) as a CPU tensor.
Tensor cpu_tensor(float* data, Shape shape);
Tensor cpu_tensor(double* data, Shape shape);
Tensor cpu_tensor(int32_t* data, Shape shape);
// bfloat16 bits (core/half.h).
Tensor cpu_bf16_tensor(uint16_t* data, Shape shape);

}  // namespace moe
