#include "ops/embedding.h"

#include "backends/cpu/embedding.h"
#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// tokens (B, T) I32 and wte (V, C) F32.
void check_tables(const char* op, const Tensor& tokens, const char* wte_name, const Tensor& wte) {
  check_dtype(op, "tokens", tokens, DType::I32);
  check_dtype(op, wte_name, wte, DType::F32);
  MOE_CHECK(tokens.shape.ndim == 2, op, ": tokens must be (B, T), got ", tokens.shape.str());
  MOE_CHECK(wte.shape.ndim == 2, op, ": ", wte_name, " must be (V, C), got ", wte.shape.str());
}

// Every id must index a row of the table; read on the host, so only for CPU tokens.
void check_token_ids(const char* op, const Tensor& tokens, int64_t vocab_size) {
  const int32_t* ids = tokens.i32();
  for (int64_t i = 0; i < tokens.numel(); ++i) {
    MOE_CHECK(ids[i] >= 0 && ids[i] < vocab_size, op, ": token id ", ids[i], " at position ", i,
              " is outside the vocabulary [0, ", vocab_size,
              "); the data was tokenized with a different tokenizer or vocab_size is too small");
  }
}

// wpe (max_T, C) with room for positions pos_offset .. pos_offset + T - 1.
void check_positions(const char* op, const char* wpe_name, const Tensor& wpe, int64_t C, int64_t Tn,
                     int64_t pos_offset) {
  check_dtype(op, wpe_name, wpe, DType::F32);
  MOE_CHECK(wpe.shape.ndim == 2 && wpe.size(1) == C, op, ": ", wpe_name, " must be (max_T, ", C,
            "), got ", wpe.shape.str());
  MOE_CHECK(pos_offset >= 0 && pos_offset + Tn <= wpe.size(0), op, ": positions [", pos_offset,
            ", ", pos_offset + Tn, ") exceed the ", wpe.size(0),
            " rows of the position table (block_size)");
}

}  // namespace

void embedding_forward(Tensor out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe,
                       int64_t pos_offset) {
  const char* op = "embedding_forward";
  check_tables(op, tokens, "wte", wte);
  const int64_t B = tokens.size(0), Tn = tokens.size(1), V = wte.size(0), C = wte.size(1);
  check_dtype(op, "out", out, DType::F32);
  check_shape(op, "out", out, {B, Tn, C});
  if (!wpe.empty()) check_positions(op, "wpe", wpe, C, Tn, pos_offset);
  switch (common_device(op, {&out, &tokens, &wte, &wpe})) {
    case Device::CPU:
      check_token_ids(op, tokens, V);
      cpu::embedding_forward(out.f32(), tokens.i32(), wte.f32(), wpe.empty() ? nullptr : wpe.f32(),
                             B, Tn, C, pos_offset);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

void embedding_backward(Tensor dwte, Tensor dwpe, const Tensor& dout, const Tensor& tokens) {
  const char* op = "embedding_backward";
  check_tables(op, tokens, "dwte", dwte);
  const int64_t B = tokens.size(0), Tn = tokens.size(1), V = dwte.size(0), C = dwte.size(1);
  check_dtype(op, "dout", dout, DType::F32);
  check_shape(op, "dout", dout, {B, Tn, C});
  if (!dwpe.empty()) check_positions(op, "dwpe", dwpe, C, Tn, 0);
  switch (common_device(op, {&dwte, &dwpe, &dout, &tokens})) {
    case Device::CPU:
      check_token_ids(op, tokens, V);
      cpu::embedding_backward(dwte.f32(), dwpe.empty() ? nullptr : dwpe.f32(), dout.f32(),
                              tokens.i32(), B, Tn, C);
      return;
    case Device::CUDA:
      cuda_unavailable(op);
  }
}

}  // namespace moe::ops
