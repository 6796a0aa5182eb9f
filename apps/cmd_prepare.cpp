// moe prepare --dataset {wikitext,text,shakespeare} --input FILE... --tokenizer {char,gpt2,bpe:DIR,
//             char:DIR} --out DIR [--val-fraction F] [--threads T]
// Progress goes to stderr; the last stdout line is the meta.json written, as one JSON object.
#include <iostream>

#include "apps/commands.h"
#include "apps/flags.h"
#include "config/config.h"
#include "core/threads.h"
#include "data/prepare.h"
#include "train/byte_progress.h"
#include "train/train_data.h"

namespace {

struct PrepareFlags {
  moe::PrepareOptions options;
  bool quiet = false;
};

void run_prepare(PrepareFlags f) {
  moe::set_num_threads(f.options.threads);
  if (f.options.dataset == "shakespeare" && f.options.inputs.empty())
    f.options.inputs.push_back(moe::find_shakespeare(moe::DataConfig{}));
  moe::ByteProgress progress;
  const nlohmann::json meta =
      moe::prepare_dataset(f.options, [&](const std::string& phase, size_t done, size_t total) {
        if (!f.quiet) progress.update(phase, done, total);
      });
  progress.finish();
  std::cout << meta.dump() << std::endl;
}

}  // namespace

void add_prepare_command(CLI::App& app) {
  auto flags = std::make_shared<PrepareFlags>();
  moe::PrepareOptions& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "prepare", "clean and tokenize a corpus into token shards for moe train --data");
  cmd->add_option("--dataset", o.dataset, "wikitext (cleaned), text or shakespeare (raw bytes)")
      ->required();
  cmd->add_option("--input", o.inputs,
                  "corpus files (wikitext: wiki.train/valid/test.* name their splits; "
                  "shakespeare: default the Tiny Shakespeare copy found)");
  cmd->add_option("--tokenizer", o.tokenizer,
                  "char (built from the corpus), char:DIR, gpt2 or bpe:DIR")
      ->required();
  cmd->add_option("--out", o.out_dir, "output directory")->required();
  cmd->add_option("--val-fraction", o.val_fraction,
                  "validation share for the split by position (default 0.1)")
      ->transform(number_in(0, 1));
  cmd->add_option("--threads", o.threads, "encoding threads (0: all cores)")
      ->transform(thread_count());
  cmd->add_flag("--quiet", flags->quiet, "no progress output");
  cmd->callback([flags] { run_prepare(*flags); });
}
