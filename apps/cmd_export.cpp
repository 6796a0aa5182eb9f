// moe export --checkpoint DIR --format hf|gguf --out PATH
//   hf:   [--dtype fp32|bf16|fp16] [--max-shard-size S]  a Hugging Face transformers folder
//   gguf: [--type f32|f16|bf16|q8_0]                     a GGUF file llama.cpp runs
// Writes the checkpoint in another program's format (src/interop); a flag of the other format is
// an error. Prints one JSON line describing what was written.
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/check.h"
#include "interop/gguf_export.h"
#include "interop/hf_export.h"

namespace {

struct ExportFlags {
  std::string checkpoint, format, out;
  std::optional<std::string> dtype;        // hf only
  std::optional<uint64_t> max_shard_size;  // hf only
  std::optional<std::string> type;         // gguf only
};

void export_hf(const ExportFlags& f) {
  MOE_CHECK(!f.type, "--type is a gguf option; --format hf takes --dtype fp32|bf16|fp16");
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
}

void export_gguf(const ExportFlags& f) {
  MOE_CHECK(!f.dtype && !f.max_shard_size,
            "--dtype and --max-shard-size are hf options; --format gguf takes --type "
            "f32|f16|bf16|q8_0");
  const std::string type = f.type.value_or("f32");
  const moe::GgufExportSummary s =
      moe::export_gguf(f.checkpoint, f.out, moe::parse_gguf_type(type));
  const nlohmann::json out = {{"format", "gguf"},     {"type", type},           {"path", f.out},
                              {"tensors", s.tensors}, {"metadata", s.kv_pairs}, {"bytes", s.bytes}};
  std::cout << out.dump() << std::endl;
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "write a checkpoint in another tool's format (hf: a Hugging Face transformers folder; gguf: "
      "a llama.cpp file)");
  cmd->add_option("--checkpoint", flags->checkpoint, "run or checkpoint directory")->required();
  cmd->add_option("--format", flags->format, "output format: hf or gguf")
      ->required()
      ->check(CLI::IsMember({"hf", "gguf"}));
  cmd->add_option("--out", flags->out, "output: hf a new folder, gguf a file (replaced atomically)")
      ->required()
      ->check(non_empty());
  cmd->add_option("--dtype", flags->dtype, "hf: weight dtype fp32 (default), bf16 or fp16")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  cmd->add_option("--max-shard-size", flags->max_shard_size,
                  "hf: largest weights file before sharding (default 5GB)")
      ->transform(byte_size());
  cmd->add_option("--type", flags->type, "gguf: type of the weight matrices (default f32)")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}));
  cmd->callback([flags] {
    if (flags->format == "hf")
      export_hf(*flags);
    else
      export_gguf(*flags);
  });
}
