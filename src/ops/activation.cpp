#include "ops/activation.h"

#include <initializer_list>
#include <utility>

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// Every tensor of an elementwise activation has the dtype and shape of `ref`.
void check_same(const char* op, const Backend& backend, const char* ref_name, const Tensor& ref,
                std::initializer_list<std::pair<const char*, const Tensor*>> args) {
  const DType dtype = float_dtype(op, backend, ref_name, ref);
  for (const auto& [name, t] : args) {
    check_dtype(op, name, *t, dtype);
    check_shape(op, name, *t, ref.shape);
  }
}

}  // namespace

void relu_forward(Tensor out, const Tensor& x) {
  const char* op = "relu_forward";
  const Backend& backend = backend_for(op, {&out, &x});
  check_same(op, backend, "x", x, {{"out", &out}});
  backend.activation.relu_forward(out, x);
}

void relu_backward(Tensor dx, const Tensor& dout, const Tensor& out) {
  const char* op = "relu_backward";
  const Backend& backend = backend_for(op, {&dx, &dout, &out});
  check_same(op, backend, "out", out, {{"dout", &dout}, {"dx", &dx}});
  backend.activation.relu_backward(dx, dout, out);
}

void swiglu_forward(Tensor out, const Tensor& gate, const Tensor& up) {
  const char* op = "swiglu_forward";
  const Backend& backend = backend_for(op, {&out, &gate, &up});
  check_same(op, backend, "gate", gate, {{"up", &up}, {"out", &out}});
  backend.activation.swiglu_forward(out, gate, up);
}

void swiglu_backward(Tensor dgate, Tensor dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up) {
  const char* op = "swiglu_backward";
  const Backend& backend = backend_for(op, {&dgate, &dup, &dout, &gate, &up});
  check_same(op, backend, "gate", gate,
             {{"up", &up}, {"dout", &dout}, {"dgate", &dgate}, {"dup", &dup}});
  backend.activation.swiglu_backward(dgate, dup, dout, gate, up);
}

}  // namespace moe::ops
