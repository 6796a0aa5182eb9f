#include "train/train_data.h"

#include "core/check.h"
#include "core/data_files.h"
#include "core/json.h"
#include "data/synthetic_source.h"
#include "data/text_source.h"
#include "tokenizer/char_tokenizer.h"

namespace moe {
namespace {

// The first id that two tokenizers of the same size decode to different text, or -1.
int32_t first_differing_id(const Tokenizer& a, const Tokenizer& b) {
  for (int32_t id = 0; id < a.vocab_size(); ++id)
    if (a.decode({id}) != b.decode({id})) return id;
  return -1;
}

}  // namespace

std::string find_shakespeare(const DataConfig& cfg) {
  if (!cfg.path.empty()) return cfg.path;
  return find_data_file("tinyshakespeare/input.txt", "Tiny Shakespeare",
                        "set data.path, or fetch it with scripts/get_data.sh");
}

TrainData load_train_data(const DataConfig& cfg, int64_t vocab_size,
                          std::unique_ptr<Tokenizer> tokenizer, uint64_t seed) {
  TrainData data;
  if (cfg.source == "prepared") {
    data.prepared = std::make_unique<PreparedData>(open_prepared_data(cfg.dir));
    const Tokenizer& own = *data.prepared->tokenizer;
    if (tokenizer) {
      // A resumed run keeps its checkpoint's tokenizer; the data must use the same vocabulary.
      MOE_CHECK(tokenizer->type() == own.type() && tokenizer->vocab_size() == own.vocab_size(),
                "the run's ", tokenizer->type(), " tokenizer (", tokenizer->vocab_size(),
                " tokens) differs from the ", own.type(), " tokenizer of ", cfg.dir, " (",
                own.vocab_size(), " tokens)");
      const int32_t differing = first_differing_id(*tokenizer, own);
      MOE_CHECK(differing < 0, "the run's tokenizer and the tokenizer of ", cfg.dir, " give token ",
                differing, " different text (", json_excerpt(tokenizer->decode({differing})),
                " and ", json_excerpt(own.decode({differing})),
                "): the data was prepared with another vocabulary");
      data.tokenizer = std::move(tokenizer);
    } else {
      data.tokenizer = std::move(data.prepared->tokenizer);
    }
    data.train = data.prepared->train.tokens();
    data.val = data.prepared->val.tokens();
    data.description =
        cfg.dir + " (" +
        json_value_or<std::string>(data.prepared->meta, "dataset", "?", cfg.dir + "/meta.json") +
        ", " + std::to_string(data.train.size + data.val.size) + " tokens, vocab " +
        std::to_string(data.tokenizer->vocab_size()) + ")";
    return data;
  }
  std::vector<int32_t> tokens;
  if (cfg.source == "synthetic") {
    tokens = synthetic_tokens(static_cast<int32_t>(vocab_size), cfg.synthetic_tokens, seed);
    data.description = "synthetic (" + std::to_string(tokens.size()) + " tokens, vocab " +
                       std::to_string(vocab_size) + ")";
  } else {
    const std::string path = cfg.source == "shakespeare" ? find_shakespeare(cfg) : cfg.path;
    const std::string text = read_text_corpus(path);
    if (tokenizer) {
      MOE_CHECK(tokenizer->type() == "char", "resumed run uses a ", tokenizer->type(),
                " tokenizer; only char is supported for text corpora");
      data.tokenizer = std::move(tokenizer);
    } else {
      data.tokenizer = std::make_unique<CharTokenizer>(CharTokenizer::build(text));
    }
    try {
      tokens = data.tokenizer->encode(text);
    } catch (const Error& e) {
      // Only a resumed run's saved vocabulary can lack characters of the corpus; building a new
      // one would silently give the model's ids other characters.
      fail("the run's tokenizer cannot encode ", path,
           " (has it changed since the run started?): ", e.what());
    }
    data.description = path + " (" + std::to_string(text.size()) + " bytes, vocab " +
                       std::to_string(data.tokenizer->vocab_size()) + ")";
  }
  TokenSplits splits = split_tokens(std::move(tokens), cfg.train_fraction);
  data.train_ids = std::move(splits.train);
  data.val_ids = std::move(splits.val);
  data.train = TokenSpan::of(data.train_ids);
  data.val = TokenSpan::of(data.val_ids);
  return data;
}

}  // namespace moe
