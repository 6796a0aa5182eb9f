// moe train-tokenizer --input FILE... --vocab-size N [--dataset text|wikitext]
//                     [--special TOKEN ...] --out DIR: learns a byte-level BPE vocabulary (from
// the text as moe prepare cleans it for --dataset wikitext) and writes DIR/encoder.json,
// DIR/vocab.bpe and DIR/tokenizer.json.
// Prints one JSON line: vocab_size, merges, special_tokens, input_bytes, pieces, unique_pieces,
// seconds, out.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/flags.h"
#include "core/check.h"
#include "core/fs.h"
#include "data/wikitext.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/byte_bpe.h"

namespace {

struct TrainTokenizerFlags {
  std::vector<std::string> inputs;
  std::string dataset = "text";
  int32_t vocab_size = 0;
  std::vector<std::string> specials = {"<|endoftext|>"};
  std::string out;
};

void run_train_tokenizer(const TrainTokenizerFlags& f) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> texts;
  for (const std::string& path : f.inputs) {
    std::string text = moe::read_file(path);
    if (f.dataset == "wikitext") {
      std::string cleaned;
      moe::append_clean_wikitext(cleaned, text);
      text = std::move(cleaned);
    }
    texts.push_back(std::move(text));
  }
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  moe::BpeTrainingStats stats;
  moe::BpeVocab vocab = moe::train_bpe(views, {f.vocab_size, f.specials}, &stats);
  const moe::BpeTokenizer tok(std::move(vocab));
  moe::make_dirs(f.out);
  tok.save(f.out);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const nlohmann::ordered_json summary = {{"vocab_size", tok.vocab_size()},
                                          {"merges", stats.merges},
                                          {"special_tokens", tok.special_tokens()},
                                          {"input_bytes", stats.input_bytes},
                                          {"pieces", stats.pieces},
                                          {"unique_pieces", stats.unique_pieces},
                                          {"seconds", seconds},
                                          {"out", f.out}};
  std::cout << summary.dump() << std::endl;
}

}  // namespace

void add_train_tokenizer_command(CLI::App& app) {
  auto flags = std::make_shared<TrainTokenizerFlags>();
  CLI::App* cmd =
      app.add_subcommand("train-tokenizer", "learn a byte-level BPE vocabulary from text files");
  cmd->add_option("--input", flags->inputs, "training text files")->required();
  cmd->add_option("--vocab-size", flags->vocab_size,
                  "tokens in all: 256 bytes + merges + special tokens")
      ->required()
      ->transform(integer_in(0, INT32_MAX));
  cmd->add_option("--dataset", flags->dataset,
                  "text: the files as they are; wikitext: cleaned as moe prepare cleans them")
      ->check(CLI::IsMember({"text", "wikitext"}));
  cmd->add_option("--special", flags->specials,
                  "special tokens, written <|name|> (default: <|endoftext|>)");
  cmd->add_option("--out", flags->out, "directory to write the tokenizer to")->required();
  cmd->callback([flags] { run_train_tokenizer(*flags); });
}
