// What every op does before it calls its kernel: find the backend of the device its tensors share
// (backends/registry.h) and validate devices, shapes, dtypes and index ranges, once, with messages
// that name the op and the argument. Kernels then trust their inputs.
//
// Index ranges (token ids, targets, expert ids, offsets, slots) are checked by reading the index
// tensor, a linear scan that is cheap on the host. A backend whose memory the host cannot read
// (Backend::host_memory false) skips those scans, so no step waits on a device read to validate:
// there, indices either come from the host, where they were checked before the upload (token ids
// and targets: every id of a token shard is checked against the vocabulary when the shard opens,
// and the tokenizer emits only ids of its vocabulary), or are produced on the device by an op that
// makes them valid by construction (router_forward's expert ids, moe_dispatch_plan's offsets,
// slots and rows).
#pragma once
#include <cstdint>
#include <initializer_list>

#include "backends/backend.h"
#include "core/check.h"
#include "core/tensor.h"

namespace moe::ops {

// The device shared by the non-empty tensors (CPU when all are empty); throws if they differ.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);

// The backend of `device`; throws naming the op when this build or machine has none.
const Backend& backend_for(const char* op, Device device);
// The backend of the device the tensors share.
const Backend& backend_for(const char* op, std::initializer_list<const Tensor*> tensors);

// Shape check with a message naming the op and the argument.
void check_shape(const char* op, const char* arg, const Tensor& t, Shape expected);
void check_dtype(const char* op, const char* arg, const Tensor& t, DType expected);

// The floating-point dtype of an op call, taken from argument `arg`: F32 or F64, and one the
// backend offers. The op's other floating-point tensors must have it too (check_dtype).
DType float_dtype(const char* op, const Backend& backend, const char* arg, const Tensor& t);

// The dtype of a GEMM's inputs (x, w and, in a backward, dout), taken from `arg`: a dtype of
// float_dtype, or BF16 (mixed precision; every backend has bf16 GEMMs).
DType gemm_input_dtype(const char* op, const Backend& backend, const char* arg, const Tensor& t);
// The dtype of a GEMM's outputs and of what is added to them (bias, gradients): F32 for BF16
// inputs (fp32 accumulation), else the inputs' own dtype.
DType gemm_output_dtype(DType input);
// The backend's linear kernels for GEMM inputs of dtype `input`.
const LinearKernels& linear_kernels(const Backend& backend, DType input);

// Checks every element of the I32 tensor t against [lo, hi) when the host can read it (see
// above); `what` names the values in the message ("an expert index").
void check_index_range(const char* op, const Backend& backend, const char* arg, const Tensor& t,
                       int64_t lo, int64_t hi, const char* what);

// Routing checks: top_k in [1, E]; a positive softmax temperature; topk_idx (N, k) I32 holding
// expert indices in [0, E) (the range when the host can read it).
void check_top_k(const char* op, int64_t top_k, int64_t E);
void check_temperature(const char* op, float temperature);
void check_topk_idx(const char* op, const Backend& backend, const Tensor& topk_idx, int64_t N,
                    int64_t k, int64_t E);

// Checks that expert_offsets (E+1) is a non-decreasing partition of [0, rows]: off[0] >= 0,
// off[e] <= off[e+1], off[E] <= rows (when the host can read it).
void check_expert_offsets(const char* op, const Backend& backend, const Tensor& expert_offsets,
                          int64_t rows);

}  // namespace moe::ops
