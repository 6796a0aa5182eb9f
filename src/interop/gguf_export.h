// A checkpoint as a GGUF file that llama.cpp runs: architecture "llama" (Mixtral's layout for
// MoE), GPT-2 byte-level BPE tokenizer metadata, the weights under llama.cpp's tensor names.
//
// Mapping (llama.cpp src/llama-arch.cpp names; convert_hf_to_gguf.py LlamaModel conventions):
//   model.embed_tokens.weight (V, C)                  -> token_embd.weight
//   model.layers.N.input_layernorm.weight             -> blk.N.attn_norm.weight
//   model.layers.N.self_attn.{q,k}_proj.weight        -> blk.N.attn_{q,k}.weight, rows permuted
//                                                        from rotate-half to adjacent pairs
//   model.layers.N.self_attn.{v,o}_proj.weight        -> blk.N.attn_{v,output}.weight
//   model.layers.N.post_attention_layernorm.weight    -> blk.N.ffn_norm.weight
//   model.layers.N.block_sparse_moe.gate.weight (E,C) -> blk.N.ffn_gate_inp.weight (/ temperature)
//   ...experts.E.{w1,w3,w2}.weight                    -> blk.N.ffn_{gate,up,down}_exps.weight,
//                                                        stacked into (E, F, C) / (E, C, F)
//   model.layers.N.mlp.{gate,up,down}_proj.weight     -> blk.N.ffn_{gate,up,down}.weight
//   model.norm.weight, lm_head.weight                 -> output_norm.weight, output.weight
// ggml lists dimensions row length first, so a (rows, cols) matrix is written as {cols, rows}
// with the same bytes.
#pragma once
#include <cstdint>
#include <string>

#include "interop/gguf_writer.h"

namespace moe {

struct GgufExportSummary {
  int64_t tensors = 0;
  int64_t kv_pairs = 0;
  uint64_t bytes = 0;  // the file's size
};

// Reads the checkpoint in `checkpoint_dir` (a run or checkpoint directory), refuses with one
// message naming the setting anything llama.cpp's llama architecture cannot run as moe.cpp does
// (see gguf_export.cpp, check_exportable), and writes `out_path` atomically. `type` is the type
// of 2-D and 3-D weights; norms, other 1-D tensors and the router stay f32, and q8_0 falls back
// to f16 for rows whose length is not a multiple of 32, as llama.cpp's converter does.
GgufExportSummary export_gguf(const std::string& checkpoint_dir, const std::string& out_path,
                              GgmlType type);

// "f32", "f16", "bf16" or "q8_0" as a type; anything else throws, listing them.
GgmlType parse_gguf_type(const std::string& name);

}  // namespace moe
