#include "ops/activation.h"

#include <initializer_list>
#include <utility>

#include "backends/cpu/activation.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// Every tensor of an elementwise activation is F32 with the shape of `ref`.
void check_same(const char* op, const Tensor& ref,
                std::initializer_list<std::pair<const char*, const Tensor*>> args) {
  for (const auto& [name, t] : args) {
    check_dtype(op, name, *t, DType::F32);
    check_shape(op, name, *t, ref.shape);
  }
}

}  // namespace

void relu_forward(Tensor out, const Tensor& x) {
  const char* op = "relu_forward";
  check_same(op, x, {{"x", &x}, {"out", &out}});
  switch (common_device(op, {&out, &x})) {
    case Device::CPU:
      cpu::relu_forward(out.f32(), x.f32(), x.numel());
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void relu_backward(Tensor dx, const Tensor& dout, const Tensor& out) {
  const char* op = "relu_backward";
  check_same(op, out, {{"out", &out}, {"dout", &dout}, {"dx", &dx}});
  switch (common_device(op, {&dx, &dout, &out})) {
    case Device::CPU:
      cpu::relu_backward(dx.f32(), dout.f32(), out.f32(), out.numel());
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void swiglu_forward(Tensor out, const Tensor& gate, const Tensor& up) {
  const char* op = "swiglu_forward";
  check_same(op, gate, {{"gate", &gate}, {"up", &up}, {"out", &out}});
  switch (common_device(op, {&out, &gate, &up})) {
    case Device::CPU:
      cpu::swiglu_forward(out.f32(), gate.f32(), up.f32(), gate.numel());
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void swiglu_backward(Tensor dgate, Tensor dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up) {
  const char* op = "swiglu_backward";
  check_same(op, gate,
             {{"gate", &gate}, {"up", &up}, {"dout", &dout}, {"dgate", &dgate}, {"dup", &dup}});
  switch (common_device(op, {&dgate, &dup, &dout, &gate, &up})) {
    case Device::CPU:
      cpu::swiglu_backward(dgate.f32(), dup.f32(), dout.f32(), gate.f32(), up.f32(), gate.numel());
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
