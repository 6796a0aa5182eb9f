// moe export --checkpoint DIR --format gguf --out FILE [--type f32|f16|bf16|q8_0]
// Parses the flags and hands the checkpoint to the writer of the format (src/interop/); prints
// one JSON line describing the file written.
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "core/check.h"
#include "interop/gguf_export.h"

namespace {

struct ExportFlags {
  std::string checkpoint, format, out, type;
};

void run_export(const ExportFlags& f) {
  MOE_CHECK(f.format == "gguf", "unknown --format \"", moe::excerpt(f.format), "\" (known: gguf)");
  const std::string type = f.type.empty() ? "f32" : f.type;
  const moe::GgufExportSummary s =
      moe::export_gguf(f.checkpoint, f.out, moe::parse_gguf_type(type));
  nlohmann::json out = {{"format", "gguf"},     {"type", type},           {"path", f.out},
                        {"tensors", s.tensors}, {"metadata", s.kv_pairs}, {"bytes", s.bytes}};
  std::cout << out.dump() << std::endl;
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* cmd = app.add_subcommand("export", "write a checkpoint in another tool's format");
  cmd->add_option("--checkpoint", flags->checkpoint, "run or checkpoint directory")->required();
  cmd->add_option("--format", flags->format, "gguf (llama.cpp)")->required();
  cmd->add_option("--out", flags->out, "file to write")->required();
  cmd->add_option("--type", flags->type, "gguf: type of the weight matrices (default f32)")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}));
  cmd->callback([flags] { run_export(*flags); });
}
