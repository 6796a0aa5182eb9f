// moe export --checkpoint DIR --format hf --out DIR [--dtype fp32|bf16|fp16] [--max-shard-size S]
// Writes the checkpoint in another program's format (src/interop); prints one JSON line
// {format, out, files, params, bytes}.
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/check.h"
#include "interop/hf_export.h"

namespace {

struct ExportFlags {
  std::string checkpoint, format, out;
  std::optional<std::string> dtype;        // hf only
  std::optional<uint64_t> max_shard_size;  // hf only
};

void run_export(const ExportFlags& f) {
  if (f.format == "hf") {
    moe::HfExportOptions options;
    const std::string dtype = f.dtype.value_or("fp32");
    options.floats = dtype == "bf16"   ? moe::StoredDType::BF16
                     : dtype == "fp16" ? moe::StoredDType::F16
                                       : moe::StoredDType::F32;
    if (f.max_shard_size) options.max_shard_bytes = *f.max_shard_size;
    const moe::HfExportResult r = moe::export_hf(f.checkpoint, f.out, options);
    const nlohmann::json out = {{"format", "hf"},   {"out", f.out},       {"dtype", dtype},
                                {"files", r.files}, {"params", r.params}, {"bytes", r.bytes}};
    std::cout << out.dump() << std::endl;
    return;
  }
  moe::fail("unknown --format ", f.format);
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "export", "write a checkpoint in another format (hf: a Hugging Face transformers folder)");
  cmd->add_option("--checkpoint", flags->checkpoint, "run or checkpoint directory")->required();
  cmd->add_option("--format", flags->format, "output format: hf")
      ->required()
      ->check(CLI::IsMember({"hf"}));
  cmd->add_option("--out", flags->out, "output folder (must not exist)")
      ->required()
      ->check(non_empty());
  cmd->add_option("--dtype", flags->dtype, "hf: weight dtype fp32 (default), bf16 or fp16")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  cmd->add_option("--max-shard-size", flags->max_shard_size,
                  "hf: largest weights file before sharding (default 5GB)")
      ->transform(byte_size());
  cmd->callback([flags] { run_export(*flags); });
}
