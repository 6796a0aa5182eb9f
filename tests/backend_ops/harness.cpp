#include "harness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "backends/registry.h"
#include "core/arena.h"
#include "core/check.h"
#include "core/half.h"
#include "ops/elementwise.h"

namespace moe::backend_ops {

Tensor Tensors::operator[](std::string_view name) const {
  for (const auto& [n, t] : items_)
    if (n == name) return t;
  fail("backend_ops: no buffer named ", name);
}

void OpCase::input(std::string name, Shape shape, std::vector<double> values) {
  buffers.push_back({std::move(name), shape, false, false, std::move(values)});
}

void OpCase::bf16_input(std::string name, Shape shape, std::vector<double> values) {
  for (double& x : values)
    x = bf16_to_fp32(fp32_to_bf16(static_cast<float>(x)));
  input(std::move(name), shape, std::move(values));
  buffers.back().bf16 = true;
}

void OpCase::bf16_output(std::string name, Shape shape) {
  output(std::move(name), shape);
  buffers.back().bf16 = true;
}

bool OpCase::mixed_precision() const {
  return std::any_of(buffers.begin(), buffers.end(), [](const Buffer& b) { return b.bf16; });
}

std::vector<DType> checked_dtypes(const Backend& backend) {
  std::vector<DType> dtypes(backend.dtypes.begin(), backend.dtypes.end());
  dtypes.push_back(DType::BF16);
  return dtypes;
}

void OpCase::index(std::string name, Shape shape, std::vector<int32_t> values) {
  buffers.push_back({std::move(name), shape, true, false, {values.begin(), values.end()}});
}

void OpCase::output(std::string name, Shape shape, std::vector<double> values) {
  if (values.empty()) values.assign(static_cast<size_t>(shape.numel()), 0.0);
  buffers.push_back({std::move(name), shape, false, true, std::move(values)});
}

void OpCase::index_output(std::string name, Shape shape) {
  buffers.push_back({std::move(name), shape, true, true,
                     std::vector<double>(static_cast<size_t>(shape.numel()))});
}

void OpCase::statistic(std::string name, int64_t n) {
  Buffer b{std::move(name), Shape{n}, false, true, std::vector<double>(static_cast<size_t>(n))};
  b.statistic = true;
  buffers.push_back(std::move(b));
}

const Buffer& OpCase::buffer(std::string_view name) const {
  for (const Buffer& b : buffers)
    if (b.name == name) return b;
  fail("backend_ops: case ", this->name, " has no buffer named ", name);
}

std::vector<double> Values::uniform(int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v)
    x = static_cast<float>(dist(gen_));
  return v;
}

std::vector<int32_t> Values::topk(int64_t n, int64_t k, std::vector<int32_t> allowed) {
  std::vector<int32_t> idx;
  for (int64_t i = 0; i < n; ++i) {
    std::shuffle(allowed.begin(), allowed.end(), gen_);
    idx.insert(idx.end(), allowed.begin(), allowed.begin() + k);
  }
  return idx;
}

std::vector<int32_t> Values::ids(int64_t n, int32_t vocab) {
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t& x : v)
    x = dist(gen_);
  return v;
}

std::string sci(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1e", x);
  return buf;
}

double tolerance(DType dtype) {
  // BF16 runs multiply bf16-representable values exactly and accumulate in fp32 (see harness.h).
  return dtype == DType::F64 ? 1e-10 : 1e-5;
}

namespace {

DType dtype_of(const Buffer& b, DType dtype) {
  if (b.index) return DType::I32;
  if (b.statistic) return DType::F64;
  if (dtype == DType::BF16) return b.bf16 ? DType::BF16 : DType::F32;
  return dtype;
}

// Writes host values into a device tensor through a CPU staging copy (ops::copy, which takes the
// backend's host -> device path).
void upload(Tensor t, const std::vector<double>& values) {
  const Shape shape = t.shape;
  switch (t.dtype) {
    case DType::F32: {
      std::vector<float> host(values.begin(), values.end());
      ops::copy(t, cpu_tensor(host.data(), shape));
      return;
    }
    case DType::F64: {
      std::vector<double> host = values;
      ops::copy(t, cpu_tensor(host.data(), shape));
      return;
    }
    case DType::I32: {
      std::vector<int32_t> host(values.size());
      for (size_t i = 0; i < values.size(); ++i)
        host[i] = static_cast<int32_t>(values[i]);
      ops::copy(t, cpu_tensor(host.data(), shape));
      return;
    }
    case DType::BF16: {
      std::vector<uint16_t> host(values.size());
      for (size_t i = 0; i < values.size(); ++i)
        host[i] = fp32_to_bf16(static_cast<float>(values[i]));
      ops::copy(t, cpu_bf16_tensor(host.data(), shape));
      return;
    }
  }
}

std::vector<double> download(const Tensor& t) {
  switch (t.dtype) {
    case DType::F32: {
      std::vector<float> host(static_cast<size_t>(t.numel()));
      ops::copy(cpu_tensor(host.data(), t.shape), t);
      return {host.begin(), host.end()};
    }
    case DType::F64: {
      std::vector<double> host(static_cast<size_t>(t.numel()));
      ops::copy(cpu_tensor(host.data(), t.shape), t);
      return host;
    }
    case DType::I32: {
      std::vector<int32_t> host(static_cast<size_t>(t.numel()));
      ops::copy(cpu_tensor(host.data(), t.shape), t);
      return {host.begin(), host.end()};
    }
    case DType::BF16: {
      std::vector<uint16_t> host(static_cast<size_t>(t.numel()));
      ops::copy(cpu_bf16_tensor(host.data(), t.shape), t);
      std::vector<double> values(host.size());
      for (size_t i = 0; i < host.size(); ++i)
        values[i] = bf16_to_fp32(host[i]);
      return values;
    }
  }
  return {};
}

// The case's buffers allocated on the backend's device.
Tensors allocate(const OpCase& c, Arena& arena, DType dtype) {
  Tensors t;
  for (const Buffer& b : c.buffers)
    t.add(b.name, arena.alloc(b.shape, dtype_of(b, dtype)));
  return t;
}

void upload_all(const OpCase& c, const Tensors& t) {
  for (const Buffer& b : c.buffers)
    upload(t[b.name], b.values);
}

void run_ops(const OpCase& c, const Tensors& t) {
  c.forward(t);
  if (c.backward) c.backward(t);
}

// ||a - b|| / ||b|| (0 when both are 0).
double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return num == 0 ? 0.0 : std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

}  // namespace

Results run_case(const OpCase& c, const Backend& backend, DType dtype) {
  Arena arena(backend.memory, size_t{1} << 20);
  const Tensors t = allocate(c, arena, dtype);
  upload_all(c, t);
  run_ops(c, t);
  Results r;
  for (const Buffer& b : c.buffers)
    if (b.compared) r.push_back(download(t[b.name]));
  return r;
}

Results reference_results(const OpCase& c) {
  if (c.reference) return c.reference(c);
  return run_case(c, *find_backend(Device::CPU), DType::F64);
}

Check compare(const OpCase& c, const Results& got, const Results& ref, DType dtype) {
  Check check{true, 0.0, ""};
  std::vector<std::string> names;
  for (const Buffer& b : c.buffers)
    if (b.compared) names.push_back(b.name);
  for (size_t i = 0; i < names.size(); ++i) {
    const Buffer& buffer = c.buffer(names[i]);
    const bool index = buffer.index;
    MOE_CHECK(got[i].size() == ref[i].size(), "backend_ops: ", c.name, ": ", names[i], " has ",
              got[i].size(), " values, the reference ", ref[i].size());
    // Indices, and in a mixed-precision run the bf16 roundings, are exact.
    if (index || (buffer.bf16 && dtype == DType::BF16)) {
      if (got[i] != ref[i]) return {false, 1.0, names[i] + " differs from the reference"};
      continue;
    }
    // A statistic's entries are unrelated numbers (a loss, an entropy): each on its own.
    const bool separately = buffer.statistic;
    for (size_t j = 0; j < (separately ? got[i].size() : 1); ++j) {
      const double error =
          separately ? rel_error({got[i][j]}, {ref[i][j]}) : rel_error(got[i], ref[i]);
      check.error = std::max(check.error, error);
      if (!(error <= tolerance(dtype)))
        return {false, error,
                names[i] + " has relative error " + sci(error) + " > " + sci(tolerance(dtype))};
    }
  }
  return check;
}

Check check_gradients(const OpCase& c) {
  const Backend& backend = *find_backend(Device::CPU);
  Arena arena(backend.memory, size_t{1} << 20);
  const Tensors t = allocate(c, arena, DType::F64);
  upload_all(c, t);
  run_ops(c, t);
  std::vector<std::vector<double>> analytic;
  for (const Gradient& g : c.gradients) {
    std::vector<double> grad = download(t[g.grad]);
    if (g.accumulates)
      for (size_t i = 0; i < grad.size(); ++i)
        grad[i] -= c.buffer(g.grad).values[i];
    analytic.push_back(std::move(grad));
  }
  // The objective after the forward alone, from the case's starting contents with one input
  // element moved.
  auto objective = [&](const std::string& input, size_t element, double value) {
    upload_all(c, t);
    std::vector<double> moved = c.buffer(input).values;
    moved[element] = value;
    upload(t[input], moved);
    c.forward(t);
    double sum = 0.0;
    for (const auto& [out, weight] : c.objective) {
      const std::vector<double> y = download(t[out]);
      const std::vector<double>& w = c.buffer(weight).values;
      for (size_t i = 0; i < y.size(); ++i)
        sum += y[i] * w[i];
    }
    return sum;
  };
  constexpr double h = 1e-6;
  Check check{true, 0.0, ""};
  for (size_t g = 0; g < c.gradients.size(); ++g) {
    const std::string& input = c.gradients[g].input;
    const std::vector<double>& x = c.buffer(input).values;
    std::vector<double> numeric(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      numeric[i] = (objective(input, i, x[i] + h) - objective(input, i, x[i] - h)) / (2 * h);
    const double error = rel_error(analytic[g], numeric);
    check.error = std::max(check.error, error);
    if (!(error <= kGradientTolerance))
      return {false, error,
              "d/d" + input + " (" + c.gradients[g].grad + ") has relative error " + sci(error) +
                  " against finite differences"};
  }
  return check;
}

}  // namespace moe::backend_ops
