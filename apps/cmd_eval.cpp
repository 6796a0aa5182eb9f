// moe eval --checkpoint DIR (--text FILE | --data PREPARED [--split val|test|train]) [--contiguous]
//          [--batches N] [--router-noise true|false] [--device D]
// Prints one JSON line {loss, ppl, tokens}.
#include <cmath>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/flags.h"
#include "config/config.h"
#include "core/arena.h"
#include "core/check.h"
#include "core/memory.h"
#include "core/rng.h"
#include "core/rng_streams.h"
#include "core/threads.h"
#include "data/batch_sampler.h"
#include "data/text_source.h"
#include "data/token_shard.h"
#include "model/checkpoint.h"
#include "train/evaluator.h"
#include "train/run_buffers.h"

namespace {

struct EvalFlags {
  std::string checkpoint, text, data, split = "val", device = "cpu";
  bool contiguous = false;
  int64_t batches = 0;
  int64_t batch_size = 0;
  int64_t seed = 1337;
  int threads = 0;
  std::optional<bool> router_noise;  // default: the run's model.router_noise_at_eval
};

void run_eval(const EvalFlags& f) {
  const moe::Device device = usable_device(f.device);
  moe::set_num_threads(f.threads);
  MOE_CHECK(f.text.empty() != f.data.empty(), "give exactly one of --text FILE or --data DIR");
  moe::CheckpointFiles files = moe::open_checkpoint(f.checkpoint);
  const std::string non_causal = files.config.model.non_causal_reason();
  if (!non_causal.empty()) std::cerr << "moe eval: not causal: " << non_causal << "\n";
  MOE_CHECK(files.tokenizer != nullptr, "checkpoint ", files.dir,
            " has no tokenizer, so it cannot read text");
  const int64_t batch = f.batch_size > 0 ? f.batch_size : files.config.train.batch_size;
  moe::require_memory(moe::evaluation_memory(files.config.model, batch), moe::available_memory(),
                      "evaluating with batches of " + std::to_string(batch) + " rows",
                      "use a smaller --batch-size");
  moe::LoadedCheckpoint ckpt = moe::load_checkpoint(std::move(files), device);
  // Text is encoded here; a prepared split (moe prepare) is read as it is, memory-mapped.
  std::vector<int32_t> ids;
  std::optional<moe::TokenShard> shard;
  moe::TokenSpan stream;
  if (!f.text.empty()) {
    ids = ckpt.tokenizer->encode(moe::read_text_corpus(f.text));
    stream = moe::TokenSpan::of(ids);
  } else {
    shard = moe::TokenShard::open(f.data + "/" + f.split + ".bin");
    MOE_CHECK(shard->vocab_size() == ckpt.tokenizer->vocab_size(), "token shard ", shard->path(),
              " has a vocabulary of ", shard->vocab_size(), " but the checkpoint's tokenizer has ",
              ckpt.tokenizer->vocab_size(), "; prepare the data with the run's tokenizer");
    stream = shard->tokens();
  }
  const int64_t seq = ckpt.config.model.block_size;
  moe::BatchSampler sampler(stream, batch, seq);
  const moe::BatchBuffers buffers(*ckpt.model, batch);
  const auto& mc = ckpt.config.model;
  moe::Evaluator evaluator(*ckpt.model, buffers.tokens(), buffers.targets());
  if (f.router_noise) {
    MOE_CHECK(!*f.router_noise || mc.router == "noisy_topk",
              "--router-noise true needs a noisy_topk "
              "router; the checkpoint's router is ",
              mc.router);
    evaluator.set_router_noise(*f.router_noise);
  }
  const uint64_t key = moe::rng_key(static_cast<uint64_t>(f.seed), moe::rng_stream::kEvalCommand);
  // Evaluate with the router temperature the schedule reached at the end of training.
  const float tau = mc.temperature_at(ckpt.config.train.steps, ckpt.config.train.steps);
  moe::EvalResult r =
      f.contiguous ? evaluator.contiguous(sampler, f.batches, key, tau)
                   : evaluator.random_windows(sampler, f.batches > 0 ? f.batches : 50, key, tau);
  // Weights are finite (checked on load), but activations can still overflow.
  MOE_CHECK(std::isfinite(r.loss), "the loss of checkpoint ", ckpt.dir, " is ", r.loss, " over ",
            r.tokens, " tokens: the model's outputs are not finite, so there is no loss to report");
  nlohmann::json out = {{"loss", r.loss}, {"ppl", std::exp(r.loss)}, {"tokens", r.tokens}};
  if (!non_causal.empty()) out["causal"] = false;
  std::cout << out.dump() << std::endl;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand("eval",
                                     "mean loss and perplexity of a checkpoint on a text file or a "
                                     "prepared split");
  cmd->add_option("--checkpoint", flags->checkpoint, "run or checkpoint directory")->required();
  cmd->add_option("--text", flags->text, "text file to score")->check(non_empty());
  cmd->add_option("--data", flags->data, "directory written by moe prepare, to score a split of")
      ->check(non_empty());
  cmd->add_option("--split", flags->split, "with --data: val (default), test or train")
      ->check(CLI::IsMember({"val", "test", "train"}));
  cmd->add_flag("--contiguous", flags->contiguous,
                "score the non-overlapping block_size windows from the start, in order");
  cmd->add_option("--batches", flags->batches, "number of batches (contiguous: at most; 0 = all)")
      ->transform(integer_in(0, INT64_MAX));
  cmd->add_option("--batch-size", flags->batch_size, "rows per batch (0: the run's)")
      ->transform(integer_in(0, moe::kMaxBatchSize));
  cmd->add_option("--seed", flags->seed, "seed of the random windows (and of the router noise)")
      ->transform(integer_in(INT64_MIN, INT64_MAX));
  cmd->add_option("--router-noise", flags->router_noise,
                  "draw the noisy router's noise (default: the run's model.router_noise_at_eval)");
  cmd->add_option("--threads", flags->threads, "CPU threads (0: all cores)")
      ->transform(thread_count());
  cmd->add_option("--device", flags->device, "where the model runs: cpu (default) or cuda")
      ->check(device_choice());
  cmd->callback([flags] { run_eval(*flags); });
}
