#include "data/prepare.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <unordered_set>

#include "core/check.h"
#include "core/fs.h"
#include "data/prepared_data.h"
#include "data/token_shard.h"
#include "data/wikitext.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/parallel_encode.h"
#include "tokenizer/tokenizer.h"

namespace moe {
namespace {

// Encoding chunks per piece: enough that every thread stays busy to the end of a piece.
constexpr size_t kChunksPerPiece = 16;

enum class Split { kTrain, kVal, kTest, kByPosition };

struct Input {
  std::string path;
  Split split;
};

using ProgressFn = std::function<void(const std::string&, size_t, size_t)>;

bool is_wikitext(const PrepareOptions& o) {
  return o.dataset == "wikitext";
}

std::vector<Input> assign_splits(const PrepareOptions& o) {
  const auto base = [](const std::string& p) {
    return std::filesystem::path(p).filename().string();
  };
  bool named = false;
  for (const std::string& p : o.inputs)
    named = named || (is_wikitext(o) && base(p).starts_with("wiki.train."));
  std::vector<Input> out;
  bool have_val = false;
  for (const std::string& p : o.inputs) {
    if (!named) {
      out.push_back({p, Split::kByPosition});
      continue;
    }
    const std::string b = base(p);
    if (b.starts_with("wiki.train.")) {
      out.push_back({p, Split::kTrain});
    } else if (b.starts_with("wiki.valid.")) {
      out.push_back({p, Split::kVal});
      have_val = true;
    } else if (b.starts_with("wiki.test.")) {
      out.push_back({p, Split::kTest});
    } else {
      fail("input ", p, ": with a wiki.train.* file given, every input must be a wiki.train.*, ",
           "wiki.valid.* or wiki.test.* file");
    }
  }
  MOE_CHECK(!named || have_val, "a wiki.train.* file is given but no wiki.valid.* file; add it ",
            "(or give neither, for a 90/10 split by position)");
  return out;
}

// Calls fn(text, input_bytes) for each piece of the file in order: the piece's text (WikiText:
// cleaned) and the number of file bytes it came from. Pieces are cut where encoding them
// separately gives the ids of the whole: after a '\n' for WikiText (cleaning works per line and
// each line ends with the end-of-text marker), at safe_chunk_starts() cuts for raw text.
void for_each_piece(const PrepareOptions& o, const std::string& path,
                    const std::function<void(std::string_view, size_t)>& fn) {
  MappedFile file(path);
  const std::string_view bytes = file.bytes();
  MOE_CHECK(!bytes.empty(), "input ", path, " is empty");
  std::vector<size_t> starts;
  if (is_wikitext(o)) {
    starts.push_back(0);
    for (size_t pos = o.piece_bytes; pos < bytes.size();) {
      const size_t nl = bytes.find('\n', pos - 1);
      if (nl == std::string_view::npos || nl + 1 >= bytes.size()) break;
      starts.push_back(nl + 1);
      pos = nl + 1 + o.piece_bytes;
    }
  } else {
    starts = safe_chunk_starts(bytes, o.piece_bytes);
  }
  std::string cleaned;
  for (size_t i = 0; i < starts.size(); ++i) {
    const size_t end = i + 1 < starts.size() ? starts[i + 1] : bytes.size();
    const std::string_view piece = bytes.substr(starts[i], end - starts[i]);
    if (is_wikitext(o)) {
      cleaned.clear();
      append_clean_wikitext(cleaned, piece);
      fn(cleaned, piece.size());
    } else {
      fn(piece, piece.size());
    }
  }
}

size_t total_input_bytes(const std::vector<Input>& inputs) {
  size_t total = 0;
  for (const Input& in : inputs)
    total += static_cast<size_t>(ReadableFile(in.path).size());  // refuses devices and FIFOs
  return total;
}

// The distinct characters of `text` spelled out in UTF-8, in no order, found without decoding:
// ASCII bytes through a table, longer sequences as the byte runs their lead bytes announce. Valid
// UTF-8 is exactly the text whose runs are all valid sequences, so CharTokenizer::build() on the
// result (which validates) fails exactly when the text is not valid UTF-8.
std::string distinct_characters(std::string_view text) {
  std::array<bool, 128> ascii{};
  std::unordered_set<std::string_view> others;  // views into text
  for (size_t i = 0; i < text.size();) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      ascii[b] = true;
      ++i;
      continue;
    }
    const size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    others.insert(text.substr(i, len));
    i += len;
  }
  std::string out;
  for (size_t c = 0; c < ascii.size(); ++c)
    if (ascii[c]) out += static_cast<char>(c);
  for (std::string_view seq : others)
    out += seq;
  return out;
}

// The character vocabulary of the whole (cleaned) corpus, built piece by piece: the union of the
// pieces' characters is a tiny corpus with the same vocabulary.
std::unique_ptr<Tokenizer> build_char_tokenizer(const PrepareOptions& o,
                                                const std::vector<Input>& inputs, size_t total,
                                                const ProgressFn& progress) {
  std::string charset;
  size_t done = 0;
  if (progress) progress("vocabulary", 0, total);
  for (const Input& in : inputs) {
    for_each_piece(o, in.path, [&](std::string_view text, size_t input_bytes) {
      const std::string piece_chars = distinct_characters(text);
      try {
        if (!piece_chars.empty()) CharTokenizer::build(piece_chars);
      } catch (const Error&) {
        // Not valid UTF-8: the full build names the byte offset in the text.
        try {
          CharTokenizer::build(text);
        } catch (const Error& e) {
          fail("input ", in.path, ": ", e.what());
        }
      }
      charset += piece_chars;
      done += input_bytes;
      if (progress) progress("vocabulary", done, total);
    });
  }
  MOE_CHECK(!charset.empty(), "the corpus is empty after cleaning: no line of ",
            inputs.front().path, (inputs.size() > 1 ? " (and the other inputs)" : ""),
            " is left to train on");
  return std::make_unique<CharTokenizer>(CharTokenizer::build(charset));
}

// Encodes the inputs of one split into `writer`, reporting progress over all inputs.
void encode_inputs(const PrepareOptions& o, const Tokenizer& tokenizer,
                   const std::vector<const Input*>& inputs, ShardWriter& writer, size_t& done,
                   size_t total, const ProgressFn& progress) {
  for (const Input* in : inputs) {
    for_each_piece(o, in->path, [&](std::string_view text, size_t input_bytes) {
      const size_t chunk_bytes = std::max<size_t>(o.piece_bytes / kChunksPerPiece, 1);
      const std::vector<size_t> starts = is_wikitext(o)
                                             ? end_of_text_chunk_starts(text, chunk_bytes)
                                             : safe_chunk_starts(text, chunk_bytes);
      const size_t base = done;
      std::vector<int32_t> ids;
      try {
        ids = encode_chunks_parallel(
            tokenizer, text, starts, o.threads, [&](size_t text_done, size_t text_total) {
              if (progress)
                progress("encoding",
                         base + input_bytes * text_done / std::max<size_t>(text_total, 1), total);
            });
      } catch (const Error& e) {
        fail("input ", in->path, ": ", e.what());
      }
      writer.append(ids);
      done = base + input_bytes;
      if (progress) progress("encoding", done, total);
    });
  }
}

nlohmann::json split_json(const std::string& dir, const std::string& file, int64_t tokens) {
  return {{"file", file},
          {"tokens", tokens},
          {"bytes", static_cast<int64_t>(std::filesystem::file_size(dir + "/" + file))}};
}

}  // namespace

nlohmann::json prepare_dataset(const PrepareOptions& o, const ProgressFn& progress) {
  MOE_CHECK(o.dataset == "wikitext" || o.dataset == "text" || o.dataset == "shakespeare",
            "unknown dataset '", o.dataset, "' (known: wikitext, text, shakespeare)");
  MOE_CHECK(!o.inputs.empty(), "no input files given (--input FILE...)");
  MOE_CHECK(!o.out_dir.empty(), "no output directory given (--out DIR)");
  MOE_CHECK(o.val_fraction > 0.0 && o.val_fraction < 1.0, "validation fraction ", o.val_fraction,
            " must be in (0, 1)");
  MOE_CHECK(o.piece_bytes >= 1, "piece size must be at least 1 byte");
  for (const std::string& p : o.inputs)
    MOE_CHECK(file_exists(p), "input ", p, " does not exist");
  // The tokenizer spec is checked before any work: an unknown one fails at once.
  std::unique_ptr<Tokenizer> tokenizer;
  if (o.tokenizer != "char") {
    try {
      tokenizer = open_tokenizer(o.tokenizer);
    } catch (const Error& e) {
      // open_tokenizer() lists the specs it knows; "char" is this command's own.
      if (!std::string_view(e.what()).starts_with("unknown tokenizer")) throw;
      fail(e.what(), "; or char, a character vocabulary built from the corpus");
    }
  }
  const std::vector<Input> inputs = assign_splits(o);
  const size_t total = total_input_bytes(inputs);
  if (!tokenizer) tokenizer = build_char_tokenizer(o, inputs, total, progress);
  const int64_t vocab = tokenizer->vocab_size();

  make_dirs(o.out_dir);
  // Without meta.json the directory reads as incomplete until this run has finished.
  std::filesystem::remove(o.out_dir + "/meta.json");
  const std::string dir = o.out_dir;
  const auto inputs_of = [&](Split s) {
    std::vector<const Input*> out;
    for (const Input& in : inputs)
      if (in.split == s) out.push_back(&in);
    return out;
  };

  nlohmann::json splits = nlohmann::json::object();
  std::string split_rule;
  size_t done = 0;
  if (progress) progress("encoding", 0, total);
  if (inputs.front().split == Split::kByPosition) {
    // One stream to a scratch shard, then cut by position into train and val.
    const std::string all_path = dir + "/.all.bin";
    {
      ShardWriter all(all_path, vocab);
      encode_inputs(o, *tokenizer, inputs_of(Split::kByPosition), all, done, total, progress);
      all.finish();
    }
    const TokenShard all = TokenShard::open(all_path);
    const int64_t n = all.size();
    MOE_CHECK(n > 0, "the corpus is empty after cleaning: no line is left to train on");
    const int64_t n_train = static_cast<int64_t>(static_cast<double>(n) * (1.0 - o.val_fraction));
    MOE_CHECK(n_train >= 1 && n_train < n, "a validation fraction of ", o.val_fraction, " of ", n,
              " tokens leaves ", (n_train < 1 ? "no training" : "no validation"), " tokens");
    write_shard(dir + "/train.bin", all.tokens().slice(0, n_train), vocab);
    write_shard(dir + "/val.bin", all.tokens().slice(n_train, n), vocab);
    std::filesystem::remove(all_path);
    splits["train"] = split_json(dir, "train.bin", n_train);
    splits["val"] = split_json(dir, "val.bin", n - n_train);
    split_rule = "position";
  } else {
    const std::pair<Split, const char*> named[] = {
        {Split::kTrain, "train"}, {Split::kVal, "val"}, {Split::kTest, "test"}};
    for (const auto& [split, name] : named) {
      const std::vector<const Input*> ins = inputs_of(split);
      if (ins.empty()) continue;
      const std::string file = std::string(name) + ".bin";
      ShardWriter writer(dir + "/" + file, vocab);
      encode_inputs(o, *tokenizer, ins, writer, done, total, progress);
      MOE_CHECK(writer.count() > 0, "the ", name, " split (", ins.front()->path,
                ") has no text left after cleaning");
      writer.finish();
      splits[name] = split_json(dir, file, writer.count());
    }
    split_rule = "named files";
  }

  tokenizer->save(dir);
  nlohmann::json input_list = nlohmann::json::array();
  for (const Input& in : inputs) {
    static constexpr const char* kSplitNames[] = {"train", "val", "test", "position"};
    input_list.push_back({{"path", in.path},
                          {"bytes", static_cast<int64_t>(std::filesystem::file_size(in.path))},
                          {"split", kSplitNames[static_cast<int>(in.split)]}});
  }
  const std::optional<int32_t> eot = tokenizer->eot_id();
  nlohmann::json meta = {{"format", kPreparedFormat},
                         {"version", kPreparedVersion},
                         {"dataset", o.dataset},
                         {"inputs", input_list},
                         {"input_bytes", total},
                         {"tokenizer", o.tokenizer},
                         {"tokenizer_type", tokenizer->type()},
                         {"vocab_size", vocab},
                         {"eot_id", eot ? nlohmann::json(*eot) : nlohmann::json(nullptr)},
                         {"id_bytes", shard_id_bytes(vocab)},
                         {"split_rule", split_rule},
                         {"val_fraction", split_rule == "position" ? nlohmann::json(o.val_fraction)
                                                                   : nlohmann::json(nullptr)},
                         {"splits", splits}};
  write_file_atomic(dir + "/meta.json", meta.dump(2) + "\n");
  return meta;
}

}  // namespace moe
