#include "ops/softmax_xent.h"

#include "backends/cpu/softmax_xent.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

void check_logits_targets(const char* op, const Tensor& logits, const Tensor& targets) {
  check_dtype(op, "logits", logits, DType::F32);
  check_dtype(op, "targets", targets, DType::I32);
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, V), got ", logits.shape.str());
  MOE_CHECK(logits.size(1) > 0, op, ": logits has an empty vocabulary dimension");
  check_shape(op, "targets", targets, Shape{logits.size(0)});
}

// Host-side range check of the targets, before the kernel indexes logits with them.
void check_target_range(const char* op, const Tensor& targets, int64_t V) {
  const int32_t* t = targets.i32();
  for (int64_t i = 0; i < targets.numel(); ++i)
    MOE_CHECK(t[i] >= 0 && t[i] < V, op, ": target ", t[i], " at row ", i,
              " is outside the vocabulary [0, V=", V, ")");
}

}  // namespace

float softmax_xent_forward(Tensor losses, const Tensor& logits, const Tensor& targets) {
  const char* op = "softmax_xent_forward";
  check_logits_targets(op, logits, targets);
  check_dtype(op, "losses", losses, DType::F32);
  check_shape(op, "losses", losses, Shape{logits.size(0)});
  const int64_t N = logits.size(0), V = logits.size(1);
  switch (common_device(op, {&losses, &logits, &targets})) {
    case Device::CPU: {
      check_target_range(op, targets, V);
      cpu::softmax_xent_forward(losses.f32(), logits.f32(), targets.i32(), N, V);
      // The mean in double, in row order: independent of the thread count.
      double total = 0.0;
      for (int64_t i = 0; i < N; ++i)
        total += losses.f32()[i];
      return N > 0 ? static_cast<float>(total / static_cast<double>(N)) : 0.0f;
    }
    case Device::CUDA:
      cuda_unavailable(op);
  }
  return 0.0f;
}

void softmax_xent_backward(Tensor dlogits, const Tensor& logits, const Tensor& targets,
                           float dloss) {
  const char* op = "softmax_xent_backward";
  check_logits_targets(op, logits, targets);
  check_dtype(op, "dlogits", dlogits, DType::F32);
  check_shape(op, "dlogits", dlogits, logits.shape);
  switch (common_device(op, {&dlogits, &logits, &targets})) {
    case Device::CPU:
      check_target_range(op, targets, logits.size(1));
      cpu::softmax_xent_backward(dlogits.f32(), logits.f32(), targets.i32(), dloss, logits.size(0),
                                 logits.size(1));
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void softmax_forward(Tensor probs, const Tensor& logits, float temperature) {
  const char* op = "softmax_forward";
  check_dtype(op, "logits", logits, DType::F32);
  check_dtype(op, "probs", probs, DType::F32);
  MOE_CHECK(logits.shape.ndim == 2, op, ": logits must be (N, V), got ", logits.shape.str());
  MOE_CHECK(logits.size(1) > 0, op, ": logits has an empty vocabulary dimension");
  check_shape(op, "probs", probs, logits.shape);
  MOE_CHECK(temperature > 0.0f, op, ": temperature must be positive, got ", temperature);
  switch (common_device(op, {&probs, &logits})) {
    case Device::CPU:
      cpu::softmax_forward(probs.f32(), logits.f32(), temperature, logits.size(0), logits.size(1));
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
