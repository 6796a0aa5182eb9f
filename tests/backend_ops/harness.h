// The backend-ops harness (the idea of llama.cpp's test-backend-ops): every op runs on every
// backend compiled into the build, in every dtype it offers, and is compared with the reference,
// the same op on the CPU backend in F64. The reference itself is checked against central finite
// differences (fp64) wherever the case has gradients.
//
// An op case lists named buffers (seeded random inputs, outputs to compare, accumulators that
// start from random values) and runs one or more ops on them through the ops API, so a backend is
// tested exactly as the layers use it.
//
// Mixed precision (train.precision = bf16) is one more dtype of every backend, DType::BF16: a
// case with bf16 buffers also runs with those in BF16 and its other floating-point buffers in F32
// (the GEMMs of ops/matmul.h and the casts of ops/cast.h). Its bf16 inputs hold bf16-representable
// values, so the F64 reference sees exactly the numbers the bf16 run multiplies, and products of
// two bf16 values are exact in fp32: what remains is fp32 accumulation, held to the F32
// tolerance. BF16 outputs (a cast's rounding) must match the reference bit for bit.
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "core/tensor.h"

namespace moe::backend_ops {

// One buffer of an op case. Floating-point buffers take the dtype under test; index buffers are
// I32. `values` are the contents before the run.
struct Buffer {
  std::string name;
  Shape shape;
  bool index = false;
  bool compared = false;  // an output: compared with the reference after the run
  std::vector<double> values;
  // A statistic an op writes (a loss, a norm): F64 in every run, its entries unrelated numbers
  // compared one by one.
  bool statistic = false;
  // BF16 in a mixed-precision run (a GEMM input, or a cast's bf16 side); its values are
  // bf16-representable.
  bool bf16 = false;
};

// The tensors of one run, on the device under test, by buffer name.
class Tensors {
 public:
  void add(std::string name, Tensor t) { items_.emplace_back(std::move(name), t); }
  Tensor operator[](std::string_view name) const;

 private:
  std::vector<std::pair<std::string, Tensor>> items_;
};

using Run = std::function<void(const Tensors&)>;
// The outputs of one run: each compared buffer in case order.
using Results = std::vector<std::vector<double>>;

// A gradient the backward writes (into buffer `grad`) of the objective with respect to input
// `input`; `accumulates` when the op adds it to what the buffer held (parameter gradients).
struct Gradient {
  std::string input, grad;
  bool accumulates = false;
};

struct OpCase {
  std::string name;              // "layernorm (bias)"
  std::vector<std::string> ops;  // the ops it runs, for the summary
  std::vector<Buffer> buffers;
  Run forward;
  Run backward;  // may be empty
  // The objective sum_i output[i] * weight[i] over these (output, weight buffer) pairs, whose
  // gradients the backward computes; used for the finite-difference check of the reference.
  std::vector<std::pair<std::string, std::string>> objective;
  std::vector<Gradient> gradients;
  // When not empty, the only dtypes the case runs in (with the reason), and a reference computed
  // by other means than the ops in F64.
  std::vector<DType> dtypes;
  std::string dtype_reason;
  std::function<Results(const OpCase&)> reference;

  // Builders.
  void input(std::string name, Shape shape, std::vector<double> values);
  // An input that is BF16 in a mixed-precision run; `values` are rounded to bf16 for every run.
  void bf16_input(std::string name, Shape shape, std::vector<double> values);
  // An output that is BF16 in a mixed-precision run (compared exactly there).
  void bf16_output(std::string name, Shape shape);
  void index(std::string name, Shape shape, std::vector<int32_t> values);
  // An output, compared after the run; `values` are its contents before (zeros when empty).
  void output(std::string name, Shape shape, std::vector<double> values = {});
  void index_output(std::string name, Shape shape);
  // An F64 statistic of n entries, compared after the run.
  void statistic(std::string name, int64_t n);
  const Buffer& buffer(std::string_view name) const;
  // The case runs in mixed precision (it has bf16 buffers).
  bool mixed_precision() const;
};

// Seeded values, rounded to fp32 so that every dtype starts from the very same numbers.
class Values {
 public:
  explicit Values(uint32_t seed) : gen_(seed) {}
  std::vector<double> uniform(int64_t n, double lo = -1.0, double hi = 1.0);
  // n rows of k distinct experts from `allowed` (an expert left out receives no tokens).
  std::vector<int32_t> topk(int64_t n, int64_t k, std::vector<int32_t> allowed);
  // n ids in [0, vocab).
  std::vector<int32_t> ids(int64_t n, int32_t vocab);

 private:
  std::mt19937 gen_;
};

// The cases of each group of ops (cases_*.cpp).
std::vector<OpCase> elementwise_cases();
std::vector<OpCase> layer_cases();
std::vector<OpCase> moe_cases();
std::vector<OpCase> attention_cases();
std::vector<OpCase> router_score_cases();

// The largest error a dtype may show against the F64 reference (norm-wise relative error of each
// output): fp32 rounding of ~1e-7 per operation, grown by reductions over up to a few hundred
// terms; for F64, a device's different reduction order.
double tolerance(DType dtype);
// x in scientific notation with two digits ("3.2e-08"), for messages.
std::string sci(double x);

// Finite differences (central, step 1e-6) against analytic fp64 gradients.
inline constexpr double kGradientTolerance = 1e-6;

// The dtypes a backend is checked in: its own, then BF16 (mixed precision).
std::vector<DType> checked_dtypes(const Backend& backend);

// Runs the case on the backend in `dtype` and reads back its outputs.
Results run_case(const OpCase& c, const Backend& backend, DType dtype);
// The reference: the case on the CPU backend in F64, or the case's own reference.
Results reference_results(const OpCase& c);

struct Check {
  bool ok = false;
  double error = 0.0;  // the largest error found
  std::string detail;  // what is at fault, when not ok
};
// Compares outputs: index outputs exactly, floating-point ones within tolerance(dtype).
Check compare(const OpCase& c, const Results& got, const Results& ref, DType dtype);
// Checks the backward of the F64 reference against finite differences of its forward.
Check check_gradients(const OpCase& c);

}  // namespace moe::backend_ops
