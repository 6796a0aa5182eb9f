#include "ops/embedding.h"

#include "ops/dispatch.h"

namespace moe::ops {
namespace {

// tokens (B, T) I32 and wte (V, C) of a floating-point dtype, which is returned.
DType check_tables(const char* op, const Backend& backend, const Tensor& tokens,
                   const char* wte_name, const Tensor& wte) {
  check_dtype(op, "tokens", tokens, DType::I32);
  const DType dtype = float_dtype(op, backend, wte_name, wte);
  MOE_CHECK(tokens.shape.ndim == 2, op, ": tokens must be (B, T), got ", tokens.shape.str());
  MOE_CHECK(wte.shape.ndim == 2, op, ": ", wte_name, " must be (V, C), got ", wte.shape.str());
  return dtype;
}

// Every id must index a row of the table (see ops/dispatch.h for devices the host cannot read).
void check_token_ids(const char* op, const Backend& backend, const Tensor& tokens,
                     int64_t vocab_size) {
  if (!backend.host_memory) return;
  const int32_t* ids = tokens.i32();
  for (int64_t i = 0; i < tokens.numel(); ++i) {
    MOE_CHECK(ids[i] >= 0 && ids[i] < vocab_size, op, ": token id ", ids[i], " at position ", i,
              " is outside the vocabulary [0, ", vocab_size,
              "); the data was tokenized with a different tokenizer or vocab_size is too small");
  }
}

// wpe (max_T, C) with room for positions pos_offset .. pos_offset + T - 1.
void check_positions(const char* op, const char* wpe_name, const Tensor& wpe, DType dtype,
                     int64_t C, int64_t Tn, int64_t pos_offset) {
  check_dtype(op, wpe_name, wpe, dtype);
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
  const Backend& backend = backend_for(op, {&out, &tokens, &wte, &wpe});
  const DType dtype = check_tables(op, backend, tokens, "wte", wte);
  const int64_t B = tokens.size(0), Tn = tokens.size(1), V = wte.size(0), C = wte.size(1);
  check_dtype(op, "out", out, dtype);
  check_shape(op, "out", out, {B, Tn, C});
  if (!wpe.empty()) check_positions(op, "wpe", wpe, dtype, C, Tn, pos_offset);
  check_token_ids(op, backend, tokens, V);
  backend.embedding.embedding_forward(out, tokens, wte, wpe, pos_offset);
}

void embedding_backward(Tensor dwte, Tensor dwpe, const Tensor& dout, const Tensor& tokens) {
  const char* op = "embedding_backward";
  const Backend& backend = backend_for(op, {&dwte, &dwpe, &dout, &tokens});
  const DType dtype = check_tables(op, backend, tokens, "dwte", dwte);
  const int64_t B = tokens.size(0), Tn = tokens.size(1), V = dwte.size(0), C = dwte.size(1);
  check_dtype(op, "dout", dout, dtype);
  check_shape(op, "dout", dout, {B, Tn, C});
  if (!dwpe.empty()) check_positions(op, "dwpe", dwpe, dtype, C, Tn, 0);
  check_token_ids(op, backend, tokens, V);
  backend.embedding.embedding_backward(dwte, dwpe, dout, tokens);
}

}  // namespace moe::ops
