// hf_logits CHECKPOINT OUT.safetensors [SEQ]: loads a checkpoint, runs one forward (inference: no
// dropout, no router noise) on two rows of SEQ seeded random token ids, and writes tokens (2, SEQ)
// I32 and logits (2, SEQ, V) F32, for tools/reference/moe_reference.py hf-check, which rebuilds
// the model from an exported Hugging Face folder and compares the logits.
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "core/check.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "nn/context.h"
#include "ops/elementwise.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: hf_logits CHECKPOINT OUT.safetensors [SEQ]\n";
    return 2;
  }
  try {
    moe::LoadedCheckpoint ckpt = moe::load_checkpoint(argv[1]);
    const moe::ModelConfig& m = ckpt.config.model;
    const int64_t b = 2, t = argc == 4 ? std::stoll(argv[3]) : m.block_size;
    std::vector<int32_t> tokens(static_cast<size_t>(b * t));  // (B, T)
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(m.vocab_size - 1));
    for (int32_t& x : tokens)
      x = id(rng);
    ckpt.model->allocate(b, t);
    moe::ForwardContext ctx;
    ctx.batch = b;
    ctx.seq = t;
    const moe::Tensor tok = moe::cpu_tensor(tokens.data(), moe::Shape{b, t});
    ckpt.model->forward(ctx, tok, moe::Tensor{});
    std::vector<float> logits(static_cast<size_t>(b * t * m.vocab_size));  // (B, T, V)
    moe::Tensor out = moe::cpu_tensor(logits.data(), moe::Shape{b, t, m.vocab_size});
    moe::ops::copy(out, ckpt.model->logits().view(out.shape));
    moe::write_safetensors(argv[2], {{"tokens", tok}, {"logits", out}});
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
