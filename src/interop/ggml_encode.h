// fp32 weights encoded as ggml tensor data: f32, f16, bf16 (core/half.h) and q8_0.
//
// q8_0 (ggml-quants.c, quantize_row_q8_0_ref): each block of 32 consecutive values of a row is
// stored as d = max|x| / 127 in fp16 and the 32 values round(x / d) as int8 (d = 0 stores zeros);
// the inverse uses d before its rounding to fp16, as ggml does, so the bytes match llama.cpp's.
#pragma once
#include <span>
#include <string>

#include "interop/gguf_writer.h"

namespace moe {

// The ggml data of `values` as `type`; for Q8_0 the count must be a multiple of 32 (rows of such
// a length, one after another).
std::string ggml_encode(GgmlType type, std::span<const float> values);

}  // namespace moe
