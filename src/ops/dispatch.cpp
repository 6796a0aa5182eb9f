#include "ops/dispatch.h"

#include "backends/registry.h"

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

const Backend& backend_for(const char* op, Device device) {
  const Backend* backend = find_backend(device);
  if (backend == nullptr) fail(op, ": ", missing_backend_reason(device));
  return *backend;
}

const Backend& backend_for(const char* op, std::initializer_list<const Tensor*> tensors) {
  return backend_for(op, common_device(op, tensors));
}

void check_shape(const char* op, const char* arg, const Tensor& t, Shape expected) {
  MOE_CHECK(t.shape == expected, op, ": ", arg, " has shape ", t.shape.str(), ", expected ",
            expected.str());
}

void check_dtype(const char* op, const char* arg, const Tensor& t, DType expected) {
  MOE_CHECK(t.dtype == expected, op, ": ", arg, " has dtype ", dtype_name(t.dtype), ", expected ",
            dtype_name(expected));
}

DType float_dtype(const char* op, const Backend& backend, const char* arg, const Tensor& t) {
  MOE_CHECK(t.dtype == DType::F32 || t.dtype == DType::F64, op, ": ", arg, " has dtype ",
            dtype_name(t.dtype), ", expected a floating-point dtype (F32 or F64)");
  MOE_CHECK(backend.offers(t.dtype), op, ": ", arg, " has dtype ", dtype_name(t.dtype),
            ", which the ", backend.name, " backend does not offer");
  return t.dtype;
}

DType gemm_input_dtype(const char* op, const Backend& backend, const char* arg, const Tensor& t) {
  if (t.dtype == DType::BF16) return t.dtype;
  return float_dtype(op, backend, arg, t);
}

DType gemm_output_dtype(DType input) {
  return input == DType::BF16 ? DType::F32 : input;
}

const LinearKernels& linear_kernels(const Backend& backend, DType input) {
  return input == DType::BF16 ? backend.bf16_linear : backend.linear;
}

void check_index_range(const char* op, const Backend& backend, const char* arg, const Tensor& t,
                       int64_t lo, int64_t hi, const char* what) {
  if (!backend.host_memory) return;
  const int32_t* v = t.i32();
  for (int64_t i = 0; i < t.numel(); ++i)
    MOE_CHECK(v[i] >= lo && v[i] < hi, op, ": ", arg, "[", i, "] = ", v[i], " is not ", what,
              " in [", lo, ", ", hi, ")");
}

void check_top_k(const char* op, int64_t top_k, int64_t E) {
  MOE_CHECK(top_k >= 1 && top_k <= E, op, ": top_k = ", top_k, " must be in [1, n_experts = ", E,
            "]");
}

void check_temperature(const char* op, float temperature) {
  MOE_CHECK(temperature > 0.0f, op, ": temperature = ", temperature, " must be positive");
}

void check_topk_idx(const char* op, const Backend& backend, const Tensor& topk_idx, int64_t N,
                    int64_t k, int64_t E) {
  check_shape(op, "topk_idx", topk_idx, {N, k});
  check_dtype(op, "topk_idx", topk_idx, DType::I32);
  check_index_range(op, backend, "topk_idx", topk_idx, 0, E, "an expert index");
}

void check_expert_offsets(const char* op, const Backend& backend, const Tensor& expert_offsets,
                          int64_t rows) {
  if (!backend.host_memory) return;
  const int32_t* off = expert_offsets.i32();
  const int64_t E = expert_offsets.numel() - 1;
  MOE_CHECK(off[0] >= 0, op, ": expert_offsets[0] = ", off[0], " is negative");
  for (int64_t e = 0; e < E; ++e)
    MOE_CHECK(off[e] <= off[e + 1], op, ": expert_offsets decrease at expert ", e, " (", off[e],
              " > ", off[e + 1], ")");
  MOE_CHECK(off[E] <= rows, op, ": expert_offsets[E] = ", off[E], " exceeds the ", rows,
            " buffer rows");
}

}  // namespace moe::ops
