// moe import --format hf DIR --out RUN: another program's model as a checkpoint of ours in
// RUN/checkpoint (src/interop); prints one JSON line {format, checkpoint, params}.
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/check.h"
#include "interop/hf_import.h"

namespace {

struct ImportFlags {
  std::string format, source, out;
};

void run_import(const ImportFlags& f) {
  if (f.format == "hf") {
    const moe::HfImportResult r = moe::import_hf(f.source, f.out);
    const nlohmann::json out = {
        {"format", "hf"}, {"checkpoint", r.checkpoint_dir}, {"params", r.params}};
    std::cout << out.dump() << std::endl;
    return;
  }
  moe::fail("unknown --format ", f.format);
}

}  // namespace

void add_import_command(CLI::App& app) {
  auto flags = std::make_shared<ImportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "import", "make a checkpoint from another format (hf: a Hugging Face Mixtral/Llama folder)");
  cmd->add_option("--format", flags->format, "input format: hf")
      ->required()
      ->check(CLI::IsMember({"hf"}));
  cmd->add_option("source", flags->source, "folder to import")->required()->check(non_empty());
  cmd->add_option("--out", flags->out, "run directory to write the checkpoint into")
      ->required()
      ->check(non_empty());
  cmd->callback([flags] { run_import(*flags); });
}
