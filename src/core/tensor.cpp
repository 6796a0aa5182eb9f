#include "core/tensor.h"

#include "core/check.h"

namespace moe {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::F64:
      return 8;
    case DType::BF16:
      return 2;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::I32:
      return "I32";
    case DType::BF16:
      return "BF16";
  }
  return "?";
}

const char* device_name(Device device) {
  return device == Device::CPU ? "cpu" : "cuda";
}

std::optional<Device> device_from_name(std::string_view name) {
  for (Device d : kAllDevices)
    if (name == device_name(d)) return d;
  return std::nullopt;
}

std::string device_names() {
  std::string names;
  for (Device d : kAllDevices)
    names += (names.empty() ? "" : ", ") + std::string(device_name(d));
  return names;
}

Shape::Shape(std::initializer_list<int64_t> d) {
  MOE_CHECK(static_cast<int>(d.size()) <= kMaxDims, "tensor rank ", d.size(), " exceeds ",
            kMaxDims);
  for (int64_t v : d) {
    MOE_CHECK(v >= 0, "negative tensor dimension ", v);
    dims[ndim++] = v;
  }
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i)
    MOE_CHECK(!__builtin_mul_overflow(n, dims[i], &n), "tensor shape ", str(),
              " has more elements than an int64 can count");
  return n;
}

int64_t Shape::operator[](int i) const {
  int j = i < 0 ? ndim + i : i;
  MOE_CHECK(j >= 0 && j < ndim, "dimension ", i, " out of range for shape ", str());
  return dims[j];
}

bool Shape::operator==(const Shape& other) const {
  if (ndim != other.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (dims[i] != other.dims[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim; ++i)
    s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + ")";
}

namespace {

// The checks behind f32(), f64() and i32().
void check_host_access(const Tensor& t, DType expected) {
  MOE_CHECK(t.dtype == expected, "expected an ", dtype_name(expected), " tensor, got ",
            dtype_name(t.dtype));
  MOE_CHECK(t.device == Device::CPU, "a ", t.shape.str(), " tensor in ", device_name(t.device),
            " memory cannot be read on the host; copy it to a CPU tensor first (ops::copy)");
}

}  // namespace

float* Tensor::f32() const {
  check_host_access(*this, DType::F32);
  return static_cast<float*>(ptr);
}

double* Tensor::f64() const {
  check_host_access(*this, DType::F64);
  return static_cast<double*>(ptr);
}

int32_t* Tensor::i32() const {
  check_host_access(*this, DType::I32);
  return static_cast<int32_t*>(ptr);
}

uint16_t* Tensor::bf16() const {
  check_host_access(*this, DType::BF16);
  return static_cast<uint16_t*>(ptr);
}

Tensor Tensor::view(Shape new_shape) const {
  MOE_CHECK(new_shape.numel() == numel(), "cannot view ", shape.str(), " as ", new_shape.str());
  Tensor t = *this;
  t.shape = new_shape;
  return t;
}

Tensor Tensor::prefix(Shape new_shape) const {
  MOE_CHECK(new_shape.numel() <= numel(), "view ", new_shape.str(), " exceeds buffer ",
            shape.str());
  Tensor t = *this;
  t.shape = new_shape;
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  MOE_CHECK(shape.ndim >= 1 && 0 <= begin && begin <= end && end <= shape.dims[0], "rows [", begin,
            ", ", end, ") out of range for shape ", shape.str());
  int64_t row = shape.dims[0] ? numel() / shape.dims[0] : 0;
  Tensor t = *this;
  t.ptr = static_cast<char*>(ptr) + begin * row * dtype_size(dtype);
  t.shape.dims[0] = end - begin;
  return t;
}

Tensor cpu_tensor(float* data, Shape shape) {
  return Tensor{data, shape, DType::F32, Device::CPU};
}
Tensor cpu_tensor(double* data, Shape shape) {
  return Tensor{data, shape, DType::F64, Device::CPU};
}
Tensor cpu_tensor(int32_t* data, Shape shape) {
  return Tensor{data, shape, DType::I32, Device::CPU};
}
Tensor cpu_bf16_tensor(uint16_t* data, Shape shape) {
  return Tensor{data, shape, DType::BF16, Device::CPU};
}

}  // namespace moe
