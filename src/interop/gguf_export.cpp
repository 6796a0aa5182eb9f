#include "interop/gguf_export.h"

#include <filesystem>
#include <span>
#include <vector>

#include "core/check.h"
#include "core/tensor.h"
#include "interop/ggml_encode.h"
#include "model/checkpoint.h"
#include "tokenizer/byte_bpe.h"
#include "tokenizer/bytes_to_unicode.h"

namespace moe {
namespace {

// llama.cpp's token types (llama.h, enum llama_token_type): ordinary tokens, control tokens
// (the special tokens, which the converter marks CONTROL) and unused ones (padding).
constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenControl = 3;
constexpr int32_t kTokenUnused = 5;

// What llama.cpp's llama architecture computes differently from moe.cpp, refused with the
// setting named. Kept (and documented in docs/ARCHITECTURE.md, "Interop"):
//   - a noisy_topk router without noise at inference is plain top-k on the clean logits; its
//     noise projection only acts in training, so it is left out;
//   - a temperature router divides the logits by the final temperature tau > 0: selection order
//     is unchanged and the kept softmax equals that of (W / tau) x, so the router weight is
//     written divided by tau.
void check_exportable(const RunConfig& config, const Tokenizer* tokenizer, const std::string& dir) {
  const ModelConfig& m = config.model;
  const std::string in = " in checkpoint " + dir;
  MOE_CHECK(!m.is_gpt(), "cannot export model.arch = gpt to GGUF", in,
            ": llama.cpp's llama architecture has RMSNorm, RoPE and no biases, the GPT-style "
            "model LayerNorm, learned positions and biases; export a model.arch = llama model");
  MOE_CHECK(!(m.router == "noisy_topk" && m.router_noise_at_eval),
            "cannot export model.router_noise_at_eval = true to GGUF", in,
            ": the router draws noise at inference, which llama.cpp cannot; retrain with it off "
            "(evaluation without noise is what the export reproduces)");
  MOE_CHECK(!m.is_expert_choice() || m.moe_layer_indices().empty(),
            "cannot export model.router = expert_choice to GGUF", in,
            ": its experts choose tokens across the whole batch, and llama.cpp routes each token "
            "to its own top-k experts");
  MOE_CHECK(m.n_shared_experts == 0, "cannot export model.n_shared_experts = ", m.n_shared_experts,
            " to GGUF", in, ": llama.cpp's llama architecture has no shared experts");
  MOE_CHECK(m.capacity_factor == 0.0f, "cannot export model.capacity_factor = ", m.capacity_factor,
            " to GGUF", in, ": llama.cpp routes every token to its top-k experts and drops none");
  const size_t moe_layers = m.moe_layer_indices().size();
  MOE_CHECK(moe_layers == 0 || m.router_score == "softmax",
            "cannot export model.router_score = ", m.router_score, " to GGUF", in,
            ": llama.cpp's llama architecture gates with a softmax of the router logits");
  MOE_CHECK(moe_layers == 0 || !m.router_bias, "cannot export model.router_bias = true to GGUF", in,
            ": llama.cpp's llama architecture selects experts without per-expert biases");
  MOE_CHECK(moe_layers == 0 || moe_layers == static_cast<size_t>(m.n_layers),
            "cannot export model.moe_layers = \"", m.moe_layers, "\" to GGUF", in,
            ": llama.cpp's llama architecture makes every layer MoE when it has experts, or "
            "none; use \"all\" or \"none\"");
  MOE_CHECK(tokenizer != nullptr, "cannot export checkpoint ", dir,
            " to GGUF: it has no tokenizer (trained on synthetic ids), and llama.cpp needs one");
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(tokenizer);
  MOE_CHECK(bpe != nullptr, "cannot export a ", tokenizer->type(), " tokenizer to GGUF", in,
            ": llama.cpp's gpt2 tokenizer is byte-level BPE, which cannot reproduce a "
            "character vocabulary (characters outside it, multi-byte characters); train with "
            "--tokenizer gpt2 or bpe:DIR");
  MOE_CHECK(bpe->eot_id().has_value(), "cannot export the BPE tokenizer", in,
            " to GGUF: it has no <|endoftext|> token, which llama.cpp uses as BOS and EOS");
}

// The tokenizer's vocabulary, padded to the model's (vocab_size may exceed the tokenizer's) with
// tokens "[PADi]" of type UNUSED, as convert_hf_to_gguf.py does (get_vocab_base), since llama.cpp
// sizes the embedding by the token list.
void add_tokenizer(GgufWriter& gguf, const BpeTokenizer& bpe, int64_t model_vocab) {
  const BpeVocab& vocab = bpe.vocab();
  std::vector<std::string> tokens(static_cast<size_t>(model_vocab));
  std::vector<int32_t> types(tokens.size(), kTokenNormal);
  for (size_t id = 0; id < tokens.size(); ++id) {
    if (id < vocab.tokens.size()) {
      tokens[id] = bytes_to_unicode_text(vocab.tokens[id]);
    } else {
      tokens[id] = "[PAD" + std::to_string(id) + "]";
      types[id] = kTokenUnused;
    }
  }
  for (int32_t id : bpe.special_ids()) {
    tokens[id] = vocab.tokens[id];  // <|name|>, printable ASCII, as written in encoder.json
    types[id] = kTokenControl;
  }
  std::vector<std::string> merges;
  merges.reserve(vocab.merges.size());
  for (const auto& [left, right] : vocab.merges)
    merges.push_back(tokens[left] + " " + tokens[right]);
  gguf.add_string("tokenizer.ggml.model", "gpt2");
  gguf.add_string("tokenizer.ggml.pre", "gpt-2");
  gguf.add_string_array("tokenizer.ggml.tokens", tokens);
  gguf.add_i32_array("tokenizer.ggml.token_type", types);
  gguf.add_string_array("tokenizer.ggml.merges", merges);
  gguf.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*bpe.eot_id()));
  gguf.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*bpe.eot_id()));
  // moe.cpp adds no BOS or EOS around text, and neither may llama.cpp.
  gguf.add_bool("tokenizer.ggml.add_bos_token", false);
  gguf.add_bool("tokenizer.ggml.add_eos_token", false);
}

// general.file_type (llama.h, enum llama_ftype) of a file whose weights are `type`.
uint32_t file_type(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
      return 0;  // LLAMA_FTYPE_ALL_F32
    case GgmlType::F16:
      return 1;  // LLAMA_FTYPE_MOSTLY_F16
    case GgmlType::Q8_0:
      return 7;  // LLAMA_FTYPE_MOSTLY_Q8_0
    case GgmlType::BF16:
      return 32;  // LLAMA_FTYPE_MOSTLY_BF16
  }
  fail("unknown ggml type");
}

// llama.feed_forward_length: the FFN size of every layer. llama.cpp's llama architecture shapes
// the experts (ffn_*_exps) by it too (it reads no expert_feed_forward_length), which can hold a
// fine-grained expert size because an exportable MoE model has no dense layer and no shared expert.
int64_t ffn_length(const ModelConfig& m) {
  return m.moe_layer_indices().empty() ? m.ffn_hidden : m.expert_ffn_hidden();
}

void add_hyperparameters(GgufWriter& gguf, const ModelConfig& m, GgmlType type) {
  gguf.add_string("general.architecture", "llama");
  gguf.add_string("general.name", "moe.cpp");
  gguf.add_u32("general.file_type", file_type(type));
  gguf.add_u32("llama.vocab_size", static_cast<uint32_t>(m.vocab_size));
  gguf.add_u32("llama.context_length", static_cast<uint32_t>(m.block_size));
  gguf.add_u32("llama.embedding_length", static_cast<uint32_t>(m.n_embed));
  gguf.add_u32("llama.block_count", static_cast<uint32_t>(m.n_layers));
  gguf.add_u32("llama.feed_forward_length", static_cast<uint32_t>(ffn_length(m)));
  gguf.add_u32("llama.attention.head_count", static_cast<uint32_t>(m.n_heads));
  gguf.add_u32("llama.attention.head_count_kv", static_cast<uint32_t>(m.kv_heads()));
  gguf.add_f32("llama.attention.layer_norm_rms_epsilon", m.norm_eps);
  gguf.add_f32("llama.rope.freq_base", m.rope_theta);
  gguf.add_u32("llama.rope.dimension_count", static_cast<uint32_t>(m.head_dim()));
  if (!m.moe_layer_indices().empty()) {
    gguf.add_u32("llama.expert_count", static_cast<uint32_t>(m.n_experts));
    gguf.add_u32("llama.expert_used_count", static_cast<uint32_t>(m.top_k));
  }
}

// Copies tensors out of model.safetensors and adds them to the file under llama.cpp's names.
class TensorMapper {
 public:
  TensorMapper(const SafeTensorsFile& weights, GgufWriter& gguf, GgmlType type)
      : weights_(weights), gguf_(gguf), type_(type) {}

  std::vector<float> read(const std::string& name) const {
    const SafeTensorsFile::Entry& e = weights_.entry(name);
    std::vector<float> data(static_cast<size_t>(e.shape.numel()));
    weights_.read_into(name, cpu_tensor(data.data(), e.shape));
    return data;
  }

  // `values` in row-major (outer, ..., row) order, `dims` in ggml order (the row length first).
  // 1-D tensors, norms and the router stay f32 (convert_hf_to_gguf.py); q8_0 needs rows of a
  // multiple of 32 and otherwise falls back to f16, as the converter does.
  void add(const std::string& gguf_name, const std::vector<uint64_t>& dims,
           std::span<const float> values, bool keep_f32 = false) {
    GgmlType type = dims.size() == 1 || keep_f32 ? GgmlType::F32 : type_;
    if (type == GgmlType::Q8_0 && dims[0] % 32 != 0) type = GgmlType::F16;
    gguf_.add_tensor(gguf_name, dims, type, ggml_encode(type, values));
  }

  // A (rows, cols) matrix read from `name`, written as {cols, rows}.
  void add_matrix(const std::string& gguf_name, const std::string& name) {
    const Shape& s = weights_.entry(name).shape;
    add(gguf_name, {static_cast<uint64_t>(s[1]), static_cast<uint64_t>(s[0])}, read(name));
  }

  void add_vector(const std::string& gguf_name, const std::string& name) {
    add(gguf_name, {static_cast<uint64_t>(weights_.entry(name).shape[0])}, read(name));
  }

 private:
  const SafeTensorsFile& weights_;
  GgufWriter& gguf_;
  GgmlType type_;
};

// HF Llama's q/k projections produce each head's rotary pairs as (i, i + d/2) ("rotate half");
// llama.cpp's RoPE (LLAMA_ROPE_TYPE_NORM) rotates adjacent pairs (2i, 2i + 1). Moving row
// h*d + j*d/2 + i to h*d + 2i + j makes the two agree (convert_hf_to_gguf.py, LlamaModel.permute:
// reshape(heads, 2, d/2, cols).swapaxes(1, 2)).
std::vector<float> permute_rotary_rows(const std::vector<float>& w, int64_t heads, int64_t head_dim,
                                       int64_t cols) {
  std::vector<float> out(w.size());
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i) {
        const float* src = w.data() + ((h * head_dim + j * half + i) * cols);
        std::copy(src, src + cols, out.data() + ((h * head_dim + 2 * i + j) * cols));
      }
  return out;
}

void add_layer(TensorMapper& map, const ModelConfig& m, int64_t layer, float router_temperature) {
  const std::string hf = "model.layers." + std::to_string(layer) + ".";
  const std::string blk = "blk." + std::to_string(layer) + ".";
  const uint64_t c = static_cast<uint64_t>(m.n_embed), f = static_cast<uint64_t>(ffn_length(m));
  const uint64_t hd = static_cast<uint64_t>(m.head_dim());
  map.add_vector(blk + "attn_norm.weight", hf + "input_layernorm.weight");
  map.add(blk + "attn_q.weight", {c, m.n_heads * hd},
          permute_rotary_rows(map.read(hf + "self_attn.q_proj.weight"), m.n_heads, m.head_dim(),
                              m.n_embed));
  map.add(blk + "attn_k.weight", {c, m.kv_heads() * hd},
          permute_rotary_rows(map.read(hf + "self_attn.k_proj.weight"), m.kv_heads(), m.head_dim(),
                              m.n_embed));
  map.add_matrix(blk + "attn_v.weight", hf + "self_attn.v_proj.weight");
  map.add_matrix(blk + "attn_output.weight", hf + "self_attn.o_proj.weight");
  map.add_vector(blk + "ffn_norm.weight", hf + "post_attention_layernorm.weight");
  if (!m.is_moe_layer(layer)) {
    map.add_matrix(blk + "ffn_gate.weight", hf + "mlp.gate_proj.weight");
    map.add_matrix(blk + "ffn_up.weight", hf + "mlp.up_proj.weight");
    map.add_matrix(blk + "ffn_down.weight", hf + "mlp.down_proj.weight");
    return;
  }
  const std::string moe = hf + "block_sparse_moe.";
  std::vector<float> router = map.read(moe + "gate.weight");  // (E, C)
  for (float& w : router)
    w /= router_temperature;
  const uint64_t e = static_cast<uint64_t>(m.n_experts);
  map.add(blk + "ffn_gate_inp.weight", {c, e}, router, /*keep_f32=*/true);
  // Mixtral's w1 (gate), w3 (up), w2 (down), stacked over experts: (E, F, C), (E, F, C), (E, C, F).
  auto stacked = [&](const char* proj) {
    std::vector<float> all;
    for (int64_t x = 0; x < m.n_experts; ++x) {
      std::vector<float> w =
          map.read(moe + "experts." + std::to_string(x) + "." + proj + ".weight");
      all.insert(all.end(), w.begin(), w.end());
    }
    return all;
  };
  map.add(blk + "ffn_gate_exps.weight", {c, f, e}, stacked("w1"));
  map.add(blk + "ffn_up_exps.weight", {c, f, e}, stacked("w3"));
  map.add(blk + "ffn_down_exps.weight", {f, c, e}, stacked("w2"));
}

}  // namespace

GgmlType parse_gguf_type(const std::string& name) {
  if (name == "f32") return GgmlType::F32;
  if (name == "f16") return GgmlType::F16;
  if (name == "bf16") return GgmlType::BF16;
  if (name == "q8_0") return GgmlType::Q8_0;
  fail("unknown GGUF type \"", excerpt(name), "\" (known: f32, f16, bf16, q8_0)");
}

GgufExportSummary export_gguf(const std::string& checkpoint_dir, const std::string& out_path,
                              GgmlType type) {
  const CheckpointFiles ckpt = open_checkpoint(checkpoint_dir);
  check_exportable(ckpt.config, ckpt.tokenizer.get(), ckpt.dir);
  const ModelConfig& m = ckpt.config.model;
  // The router temperature the schedule reached at the end of training, as moe eval uses (> 0:
  // config validation keeps both ends of the schedule in [1e-3, 1e3]).
  const float tau = m.temperature_at(ckpt.config.train.steps, ckpt.config.train.steps);

  GgufWriter gguf;
  add_hyperparameters(gguf, m, type);
  add_tokenizer(gguf, dynamic_cast<const BpeTokenizer&>(*ckpt.tokenizer), m.vocab_size);

  TensorMapper map(ckpt.weights, gguf, type);
  map.add_matrix("token_embd.weight", "model.embed_tokens.weight");
  for (int64_t layer = 0; layer < m.n_layers; ++layer)
    add_layer(map, m, layer, tau);
  map.add_vector("output_norm.weight", "model.norm.weight");
  map.add_matrix("output.weight", "lm_head.weight");
  gguf.write(out_path);

  GgufExportSummary summary;
  summary.tensors = gguf.tensor_count();
  summary.kv_pairs = gguf.kv_count();
  summary.bytes = std::filesystem::file_size(out_path);
  return summary;
}

}  // namespace moe
