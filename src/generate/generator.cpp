#include "generate/generator.h"

#include <algorithm>
#include <chrono>

#include "core/check.h"
#include "ops/elementwise.h"

namespace moe {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

void allocate_for_generation(Model& model) {
  model.allocate(1, model.config().block_size);
  model.allocate_kv_cache();
}

MemoryUse generation_memory(const ModelConfig& config) {
  Model model(config, ArenaMode::Measure);
  allocate_for_generation(model);
  return {model.weight_bytes(), 0, model.activation_bytes()};
}

Generator::Generator(Model& model)
    : model_(model), last_logits_(static_cast<size_t>(model.config().vocab_size)) {
  // Decoding routes one token at a time, which routing over the whole batch cannot do.
  const std::string reason = model.config().non_causal_reason();
  MOE_CHECK(reason.empty(),
            "cannot generate from this model, which decodes one token at a time: ", reason);
  allocate_for_generation(model_);
}

const float* Generator::forward(const int32_t* tokens, int64_t count, int64_t pos_offset) {
  const int64_t vocab = model_.config().vocab_size;
  for (int64_t i = 0; i < count; ++i)
    MOE_CHECK(tokens[i] >= 0 && tokens[i] < vocab, "generate: token ", tokens[i],
              " is outside the vocabulary [0, ", vocab, ")");
  ForwardContext ctx;
  ctx.training = false;
  ctx.batch = 1;
  ctx.seq = count;
  ctx.pos_offset = pos_offset;
  ctx.use_kv_cache = true;
  // The tensor only wraps the caller's tokens for the forward, which copies them.
  Tensor in = cpu_tensor(const_cast<int32_t*>(tokens), Shape{1, count});
  model_.forward(ctx, in, Tensor{});
  cached_ = pos_offset + count;
  // The last position's logits are the step's one read from the device.
  ops::copy(cpu_tensor(last_logits_.data(), Shape{1, vocab}),
            model_.logits().rows(count - 1, count));
  return last_logits_.data();
}

const float* Generator::prefill(const std::vector<int32_t>& tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  MOE_CHECK(n >= 1 && n <= model_.config().block_size, "generate: prefill of ", n,
            " tokens; expected 1 to block_size = ", model_.config().block_size);
  return forward(tokens.data(), n, 0);
}

const float* Generator::decode(int32_t token) {
  MOE_CHECK(cached_ >= 1, "generate: decode needs a prefill first");
  MOE_CHECK(cached_ < model_.config().block_size,
            "generate: the KV cache is full (block_size = ", model_.config().block_size, ")");
  return forward(&token, 1, cached_);
}

GenerateResult Generator::generate(const std::vector<int32_t>& prompt, const GenerateArgs& args,
                                   std::optional<int32_t> eot_id,
                                   const std::function<void(int32_t)>& on_token) {
  MOE_CHECK(args.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0, got ",
            args.max_new_tokens);
  validate_sampler_args(args.sampler);
  GenerateResult result;
  if (args.max_new_tokens == 0) return result;
  const int64_t block = model_.config().block_size;
  const int64_t vocab = model_.config().vocab_size;

  // The whole sequence (prompt, then new tokens); the model sees at most its last block_size.
  std::vector<int32_t> seq = prompt;
  if (seq.empty()) seq.push_back(eot_id.value_or(0));
  if (static_cast<int64_t>(seq.size()) > block) seq.erase(seq.begin(), seq.end() - block);

  Rng rng(rng_key(args.seed));
  auto start = Clock::now();
  const float* logits = prefill(seq);
  result.prefill_ms = seconds_since(start) * 1e3;

  double decode_seconds = 0.0;
  int64_t decode_tokens = 0;  // tokens sampled from logits of a step after the prefill
  for (int64_t i = 0; i < args.max_new_tokens; ++i) {
    start = Clock::now();
    if (i > 0) {
      if (cached_ < block) {
        logits = decode(seq.back());
      } else {
        // The cache is full. Rather than recompute a sliding window of block_size tokens for every
        // new token (a full prefill per token), restart the cache from the last block_size / 2
        // tokens at positions 0..: one prefill then buys block_size / 2 cheap decode steps. The
        // model was trained on windows starting anywhere, so positions restarting at 0 with
        // half a block of context is a sequence it has seen.
        const int64_t keep = std::max<int64_t>(1, block / 2);
        logits = prefill(std::vector<int32_t>(seq.end() - keep, seq.end()));
      }
    }
    const int32_t token = sample_token(logits, static_cast<int32_t>(vocab), args.sampler, rng);
    if (i > 0) {
      decode_seconds += seconds_since(start);
      ++decode_tokens;
    }
    if (args.stop_at_eot && eot_id && token == *eot_id) {
      result.stopped_at_eot = true;
      break;
    }
    seq.push_back(token);
    result.tokens.push_back(token);
    if (on_token) on_token(token);
  }
  result.decode_tokens_per_s =
      decode_seconds > 0.0 ? static_cast<double>(decode_tokens) / decode_seconds : 0.0;
  return result;
}

}  // namespace moe
