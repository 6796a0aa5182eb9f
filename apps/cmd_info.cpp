// moe info --checkpoint DIR: configuration, parameter counts and the tensor table. Reads the
// files' headers only (checked like any load), so it works for a checkpoint of any size.
#include <cstdio>
#include <iostream>

#include "apps/commands.h"
#include "model/checkpoint.h"

namespace {

void run_info(const std::string& dir) {
  const moe::CheckpointFiles ckpt = moe::open_checkpoint(dir);
  const moe::Model model(ckpt.config.model, moe::ArenaMode::Measure);  // counts, no memory
  std::cout << "checkpoint: " << ckpt.dir << "\n";
  std::cout << "config:\n" << ckpt.config.to_json().dump(2) << "\n";
  if (ckpt.tokenizer)
    std::cout << "tokenizer: " << ckpt.tokenizer->type() << ", " << ckpt.tokenizer->vocab_size()
              << " tokens\n";
  std::printf("parameters: %lld total, %lld active per token\n",
              static_cast<long long>(model.param_count()),
              static_cast<long long>(model.active_param_count()));
  std::printf("%-64s %-8s %s\n", "tensor", "dtype", "shape");
  for (const moe::Param& p : model.params().params())
    std::printf("%-64s %-8s %s\n", p.name.c_str(), "F32", p.shape.str().c_str());
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "show a checkpoint's configuration and tensors");
  cmd->add_option("--checkpoint", *dir, "run or checkpoint directory")->required();
  cmd->callback([dir] { run_info(*dir); });
}
