// `moe generate`: samples text from a checkpoint, streaming it to stdout as tokens arrive.
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/check.h"
#include "core/memory.h"
#include "core/threads.h"
#include "generate/generator.h"
#include "model/checkpoint.h"

namespace {

struct GenerateOptions {
  std::string checkpoint;
  std::string prompt;
  int64_t max_new_tokens = 200;
  float temperature = 1.0f;
  int top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 1337;
  bool no_stop = false;
  int threads = 0;
  std::string device = "cpu";
};

void run_generate(const GenerateOptions& opt) {
  const moe::Device device = usable_device(opt.device);
  moe::set_num_threads(opt.threads);
  moe::CheckpointFiles files = moe::open_checkpoint(opt.checkpoint);
  moe::require_memory(moe::generation_memory(files.config.model), moe::available_memory(),
                      "generating from checkpoint " + files.dir,
                      "the model is too large for this machine");
  moe::LoadedCheckpoint ckpt = moe::load_checkpoint(std::move(files), device);
  MOE_CHECK(ckpt.tokenizer, "checkpoint ", opt.checkpoint, " has no tokenizer");
  const moe::Tokenizer& tok = *ckpt.tokenizer;

  moe::GenerateArgs args;
  args.max_new_tokens = opt.max_new_tokens;
  args.sampler.temperature = opt.temperature;
  args.sampler.top_k = opt.top_k;
  args.sampler.top_p = opt.top_p;
  args.seed = opt.seed;
  args.stop_at_eot = !opt.no_stop;

  moe::validate_sampler_args(args.sampler);
  const std::vector<int32_t> prompt = tok.encode(opt.prompt);

  moe::Generator generator(*ckpt.model);
  std::cout << opt.prompt << std::flush;
  // Tokens are decoded one at a time: a byte-level token may hold part of a UTF-8 character,
  // and writing its bytes as they come still leaves the complete text on stdout.
  moe::GenerateResult result = generator.generate(
      prompt, args, tok.eot_id(), [&](int32_t t) { std::cout << tok.decode({t}) << std::flush; });
  std::cout << "\n" << std::flush;
  std::cerr << "decode: " << result.tokens.size() << " tokens, " << result.decode_tokens_per_s
            << " tokens/s (threads: OpenMP " << moe::num_threads() << ", OpenBLAS "
            << moe::blas_num_threads() << ")\n";
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto opt = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Sample text from a trained checkpoint");
  cmd->add_option("--checkpoint", opt->checkpoint, "Run or checkpoint directory")->required();
  cmd->add_option("--prompt", opt->prompt, "Text to continue (empty: start of text)");
  cmd->add_option("--max-new-tokens", opt->max_new_tokens, "Tokens to generate")
      ->transform(integer_in(0, INT64_MAX));
  cmd->add_option("--temperature", opt->temperature, "Sampling temperature (0: greedy)")
      ->transform(number_in(0, std::numeric_limits<float>::max()));
  cmd->add_option("--top-k", opt->top_k, "Sample from the K most likely tokens (0: all)")
      ->transform(integer_in(0, INT32_MAX));
  cmd->add_option("--top-p", opt->top_p, "Nucleus sampling mass (1: off)")
      ->transform(number_in(0, 1));
  cmd->add_option("--seed", opt->seed, "Sampling seed")->transform(any_uint64());
  cmd->add_flag("--no-stop", opt->no_stop, "Do not stop at the end-of-text token");
  cmd->add_option("--threads", opt->threads, "CPU threads (0: all cores)")
      ->transform(thread_count());
  cmd->add_option("--device", opt->device, "Where the model runs: cpu (default) or cuda")
      ->check(device_choice());
  cmd->callback([opt] { run_generate(*opt); });
}
