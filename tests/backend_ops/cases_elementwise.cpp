// Elementwise helpers, activations, dropout and the fp32 <-> bf16 casts.
#include <cmath>
#include <limits>

#include "core/half.h"
#include "core/rng.h"
#include "harness.h"
#include "ops/activation.h"
#include "ops/cast.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"

namespace moe::backend_ops {

namespace {

OpCase elementwise() {
  OpCase c{"fill, copy, add, add_widened, scale, sum_squares, all_finite",
           {"fill", "copy", "add", "add_inplace", "add_widened", "scale_inplace", "sum_squares",
            "all_finite"}};
  const int64_t n = 257;
  Values v(1);
  c.input("a", {n}, v.uniform(n));
  c.input("b", {n}, v.uniform(n));
  std::vector<double> with_inf = v.uniform(n);
  with_inf[100] = std::numeric_limits<double>::infinity();
  c.input("with_inf", {n}, with_inf);
  c.output("filled", {n});
  c.output("copied", {n});
  c.output("sum", {n});
  c.output("acc", {n}, v.uniform(n));
  c.index("ids", {5}, {3, 1, 4, 1, 5});
  c.index_output("ids_copied", {5});
  c.statistic("sum_squares", 1);
  c.statistic("widened", n);  // F64 on every backend, from zeros
  c.index_output("a_finite", {1});
  c.index_output("with_inf_finite", {1});
  c.forward = [](const Tensors& t) {
    ops::fill(t["filled"], 0.25f);
    ops::copy(t["copied"], t["a"]);
    ops::copy(t["ids_copied"], t["ids"]);
    ops::add(t["sum"], t["a"], t["b"]);
    ops::add_inplace(t["acc"], t["b"]);
    ops::scale_inplace(t["acc"], -1.5f);
    ops::sum_squares(t["sum_squares"], t["a"]);
    ops::add_widened(t["widened"], t["a"]);
    ops::add_widened(t["widened"], t["b"]);
    ops::all_finite(t["a_finite"], t["a"]);
    ops::all_finite(t["with_inf_finite"], t["with_inf"]);
  };
  return c;
}

// fill and add on F64 statistics, which every backend takes whatever its dtypes: the trainer zeroes
// its step statistics and adds each micro-batch's losses into them on the model's device.
OpCase statistics_fill_add() {
  OpCase c{"fill, add on F64 statistics", {"fill (F64)", "add (F64)", "add_inplace (F64)"}};
  const int64_t n = 300;
  Values v(5);
  c.input("a", {n}, v.uniform(n));
  c.input("b", {n}, v.uniform(n));
  c.statistic("filled", n);
  c.statistic("zeroed", n);
  c.statistic("sum", n);
  c.statistic("acc", n);
  c.forward = [](const Tensors& t) {
    // Statistics start at zero: add_widened gives them the inputs' values first.
    ops::add_widened(t["zeroed"], t["a"]);
    ops::fill(t["zeroed"], 0.0f);
    ops::fill(t["filled"], 0.75f);
    ops::add_widened(t["sum"], t["a"]);
    ops::add_widened(t["acc"], t["b"]);
    ops::add(t["sum"], t["sum"], t["acc"]);
    ops::add_inplace(t["acc"], t["sum"]);
    ops::add_inplace(t["acc"], t["filled"]);
  };
  return c;
}

OpCase random_fills() {
  OpCase c{"fill_normal, fill_uniform", {"fill_normal", "fill_uniform"}};
  c.output("normal", {1000});
  c.output("uniform", {1000});
  c.forward = [](const Tensors& t) {
    ops::fill_normal(t["normal"], 0.5f, 0.02f, 77);
    ops::fill_uniform(t["uniform"], -0.3f, 0.7f, 78);
  };
  return c;
}

// Forward and backward of an elementwise activation on (rows, cols) values; the weights of the
// objective are the output gradient.
OpCase relu() {
  OpCase c{"relu", {"relu_forward", "relu_backward"}};
  const Shape s{6, 40};
  Values v(2);
  c.input("x", s, v.uniform(s.numel(), -2.0, 2.0));
  c.input("dout", s, v.uniform(s.numel()));
  c.output("out", s);
  c.output("dx", s);
  c.forward = [](const Tensors& t) { ops::relu_forward(t["out"], t["x"]); };
  c.backward = [](const Tensors& t) { ops::relu_backward(t["dx"], t["dout"], t["out"]); };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"x", "dx"}};
  return c;
}

OpCase swiglu() {
  OpCase c{"swiglu", {"swiglu_forward", "swiglu_backward"}};
  const Shape s{6, 40};
  Values v(3);
  // Large |gate| too: sigmoid saturates (exp overflows to inf for very negative inputs).
  std::vector<double> gate = v.uniform(s.numel(), -4.0, 4.0);
  gate[0] = -90.0;
  gate[1] = 90.0;
  c.input("gate", s, gate);
  c.input("up", s, v.uniform(s.numel()));
  c.input("dout", s, v.uniform(s.numel()));
  c.output("out", s);
  c.output("dgate", s);
  c.output("dup", s);
  c.forward = [](const Tensors& t) { ops::swiglu_forward(t["out"], t["gate"], t["up"]); };
  c.backward = [](const Tensors& t) {
    ops::swiglu_backward(t["dgate"], t["dup"], t["dout"], t["gate"], t["up"]);
  };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"gate", "dgate"}, {"up", "dup"}};
  return c;
}

OpCase dropout(float p) {
  OpCase c{p > 0 ? "dropout (p = 0.3)" : "dropout (p = 0: a copy)",
           {"dropout_forward", "dropout_backward"}};
  const Shape s{5, 300};
  Values v(4);
  c.input("x", s, v.uniform(s.numel()));
  c.input("dout", s, v.uniform(s.numel()));
  c.output("out", s);
  c.output("dx", s);
  c.forward = [p](const Tensors& t) { ops::dropout_forward(t["out"], t["x"], p, 1234); };
  c.backward = [p](const Tensors& t) { ops::dropout_backward(t["dx"], t["dout"], p, 1234); };
  c.objective = {{"out", "dout"}};
  c.gradients = {{"x", "dx"}};
  return c;
}

// Both roundings to bf16 and the exact widening back. Besides random values: ties (to even, down
// and up), fp32 subnormals, signed zeros. (Infinities and NaN: tests/unit/test_half.cpp.)
OpCase casts() {
  OpCase c{"cast fp32 <-> bf16 (nearest even, stochastic)",
           {"cast_to_bf16", "cast_to_bf16_stochastic", "cast_from_bf16"}};
  const int64_t n = 300;
  constexpr uint64_t kKey = 0xB16;
  Values v(2);
  std::vector<double> x = v.uniform(n, -3.0, 3.0);
  const std::vector<double> special = {1.0 + std::ldexp(1.0, -8),
                                       1.0 + 3 * std::ldexp(1.0, -8),
                                       -(1.0 + std::ldexp(1.0, -8)),
                                       std::ldexp(1.0, -140),
                                       -std::ldexp(3.0, -135),
                                       0.0,
                                       -0.0,
                                       std::ldexp(1.0, -126)};
  std::copy(special.begin(), special.end(), x.begin());
  c.input("x", {n}, x);
  c.bf16_output("nearest", {n});
  c.bf16_output("stochastic", {n});
  c.output("widened", {n});
  c.forward = [](const Tensors& t) {
    ops::cast_to_bf16(t["nearest"], t["x"]);
    ops::cast_to_bf16_stochastic(t["stochastic"], t["x"], kKey);
    ops::cast_from_bf16(t["widened"], t["nearest"]);
  };
  c.dtypes = {DType::BF16};
  c.dtype_reason = "a cast between fp32 and bf16";
  // core/half.h's roundings, which every backend's kernels must reproduce bit for bit.
  c.reference = [](const OpCase& oc) {
    const std::vector<double>& in = oc.buffer("x").values;
    Results r(3, std::vector<double>(in.size()));
    for (size_t i = 0; i < in.size(); ++i) {
      const float xi = static_cast<float>(in[i]);
      r[0][i] = bf16_to_fp32(fp32_to_bf16(xi));
      r[1][i] = bf16_to_fp32(fp32_to_bf16_stochastic(xi, static_cast<uint32_t>(rng_bits(kKey, i))));
      r[2][i] = r[0][i];
    }
    return r;
  };
  return c;
}

}  // namespace

std::vector<OpCase> elementwise_cases() {
  return {elementwise(), statistics_fill_add(), random_fills(), relu(),
          swiglu(),      dropout(0.3f),         dropout(0.0f),  casts()};
}

}  // namespace moe::backend_ops
