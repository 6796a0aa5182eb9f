// sparse_checkpoint OUT_DIR [key=value ...]: writes a checkpoint directory for the makemoe preset
// with the given settings whose model.safetensors has a valid header and a data section that is
// never written (a sparse file: zeros that take no disk space), with a character tokenizer and no
// manifest. Tests hand `moe` checkpoints of any size with it.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "core/check.h"
#include "core/fs.h"
#include "model/model.h"
#include "tokenizer/char_tokenizer.h"

namespace {

void write_sparse_weights(const std::string& path, const moe::Model& model) {
  nlohmann::ordered_json header = {{"__metadata__", {{"format", "pt"}, {"step", "0"}}}};
  uint64_t offset = 0;
  for (const moe::Param& p : model.params().params()) {
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int i = 0; i < p.shape.ndim; ++i)
      shape.push_back(p.shape.dims[i]);
    const uint64_t bytes = static_cast<uint64_t>(p.shape.numel()) * sizeof(float);
    header[p.name] = {
        {"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string head(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(head.data(), &n, 8);
  head += text;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  MOE_CHECK(fd >= 0, "cannot create ", path);
  const bool ok = ::write(fd, head.data(), head.size()) == static_cast<ssize_t>(head.size()) &&
                  ::ftruncate(fd, static_cast<off_t>(head.size() + offset)) == 0;
  ::close(fd);
  MOE_CHECK(ok, "cannot write ", path, ": ", std::strerror(errno));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    MOE_CHECK(argc >= 2, "usage: sparse_checkpoint OUT_DIR [key=value ...]");
    const std::string out = argv[1];
    moe::RunConfig config = moe::RunConfig::preset("makemoe");
    for (int i = 2; i < argc; ++i)
      config.set_assignment(argv[i]);
    config.validate();
    const moe::Model model(config.model, moe::ArenaMode::Measure);  // names and shapes only
    moe::make_dirs(out);
    write_sparse_weights(out + "/model.safetensors", model);
    moe::write_file_atomic(out + "/config.json", config.to_json().dump(2) + "\n");
    moe::CharTokenizer::build("abcdefghijklmnopqrstuvwxyz \n").save(out);
    std::printf("%s: %lld parameters\n", out.c_str(), static_cast<long long>(model.param_count()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
