// moe tokenize --tokenizer SPEC FILE [--threads T]: prints the token ids of FILE's bytes, one per
// line (special tokens such as <|endoftext|> in the text are encoded as their ids).
#include <charconv>
#include <cstdio>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/check.h"
#include "core/fs.h"
#include "core/threads.h"
#include "tokenizer/parallel_encode.h"
#include "tokenizer/tokenizer.h"

namespace {

struct TokenizeFlags {
  std::string tokenizer, file;
  int threads = 0;
};

void run_tokenize(const TokenizeFlags& f) {
  moe::set_num_threads(f.threads);
  const std::unique_ptr<moe::Tokenizer> tok = moe::open_tokenizer(f.tokenizer);
  const std::string text = moe::read_file(f.file);
  const std::vector<int32_t> ids = moe::encode_parallel(*tok, text, f.threads);
  std::string out;
  out.reserve(ids.size() * 7);
  char digits[16];
  for (int32_t id : ids) {
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, id);
    out.append(digits, end);
    out += '\n';
  }
  MOE_CHECK(
      std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0,
      "cannot write the token ids to standard output");
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App* cmd = app.add_subcommand("tokenize", "print the token ids of a file, one per line");
  cmd->add_option("--tokenizer", flags->tokenizer, "char:DIR, gpt2 or bpe:DIR")->required();
  cmd->add_option("file", flags->file, "file to encode")->required();
  cmd->add_option("--threads", flags->threads, "encoding threads (0: all cores)")
      ->transform(thread_count());
  cmd->callback([flags] { run_tokenize(*flags); });
}
