#include "interop/hf_export.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>
#include <system_error>

#include "core/check.h"
#include "core/fs.h"
#include "interop/hf_config.h"
#include "interop/hf_tokenizer.h"
#include "model/checkpoint.h"

namespace moe {
namespace {

namespace fs = std::filesystem;

// fp16's largest finite value; larger weights would become infinite.
constexpr float kFp16Max = 65504.0f;

const char* torch_dtype_name(StoredDType floats) {
  switch (floats) {
    case StoredDType::BF16:
      return "bfloat16";
    case StoredDType::F16:
      return "float16";
    default:
      return "float32";
  }
}

void check_fp16_range(const Model& model) {
  for (const Param& p : model.params().params()) {
    const float* v = p.value.f32();
    for (int64_t i = 0; i < p.value.numel(); ++i)
      MOE_CHECK(std::fabs(v[i]) <= kFp16Max, "cannot export as fp16: weight ", p.name, " holds ",
                v[i], " (element ", i, "), beyond fp16's largest value 65504; use --dtype bf16");
  }
}

// Runs write(TMP) for a new directory TMP beside OUT, then renames TMP to OUT. A failure removes
// TMP, so OUT appears complete or not at all.
void write_dir_atomic(const std::string& out,
                      const std::function<void(const std::string&)>& write) {
  fs::path final_path = fs::path(out).lexically_normal();
  if (!final_path.has_filename()) final_path = final_path.parent_path();  // "DIR/"
  MOE_CHECK(!fs::exists(final_path), "output folder ", out,
            " already exists; choose a new path or remove it");
  const fs::path parent = final_path.has_parent_path() ? final_path.parent_path() : fs::path(".");
  make_dirs(parent.string());
  const fs::path tmp =
      parent / (final_path.filename().string() + ".tmp." + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(tmp, ec);
  try {
    fs::create_directory(tmp);
    write(tmp.string());
    sync_path(tmp.string());
    fs::rename(tmp, final_path);
    sync_path(parent.string());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace

HfExportResult export_hf(const std::string& checkpoint_dir, const std::string& out_dir,
                         const HfExportOptions& options) {
  MOE_CHECK(options.floats != StoredDType::I32, "weights cannot be exported as I32");
  CheckpointFiles files = open_checkpoint(checkpoint_dir);
  // Everything that can be refused is refused before the weights are read.
  check_hf_exportable(files.config.model);
  const BpeTokenizer* bpe = dynamic_cast<const BpeTokenizer*>(files.tokenizer.get());
  MOE_CHECK(!files.tokenizer || bpe, "cannot export the checkpoint's ", files.tokenizer->type(),
            " tokenizer to Hugging Face: only byte-level BPE tokenizers (gpt2, bpe:DIR) have a "
            "faithful Hugging Face form; a character vocabulary does not");
  const LoadedCheckpoint ckpt = load_checkpoint(std::move(files));
  if (options.floats == StoredDType::F16) check_fp16_range(*ckpt.model);
  const ModelConfig& m = ckpt.config.model;
  const std::optional<int32_t> eos = bpe ? bpe->eot_id() : std::nullopt;

  HfExportResult result;
  write_dir_atomic(out_dir, [&](const std::string& dir) {
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const Param& p : ckpt.model->params().params())
      tensors.emplace_back(p.name, p.value);
    write_hf_weights(dir, tensors, options.floats, options.max_shard_bytes);
    write_file_atomic(dir + "/config.json",
                      hf_config_json(m, eos, torch_dtype_name(options.floats)).dump(2) + "\n");
    write_file_atomic(dir + "/generation_config.json",
                      hf_generation_config_json(eos).dump(2) + "\n");
    if (bpe) write_hf_tokenizer(dir, *bpe, m.block_size);
    for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
      result.files.push_back(e.path().filename().string());
      result.bytes += e.file_size();
    }
  });
  std::sort(result.files.begin(), result.files.end());
  result.params = ckpt.model->param_count();
  return result;
}

}  // namespace moe
