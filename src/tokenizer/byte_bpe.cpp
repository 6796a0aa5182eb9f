#include "tokenizer/byte_bpe.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <queue>

#include "core/check.h"
#include "core/fs.h"
#include "core/json.h"
#include "tokenizer/bytes_to_unicode.h"

namespace moe {
namespace {

constexpr const char* kVocabHeader = "#version: 0.2";
constexpr uint64_t kEmptyKey = ~uint64_t{0};
// Pieces up to this many bytes are merged by scanning all pairs each round (tiktoken's method,
// quadratic but fastest for short pieces); longer ones use a heap, so a megabyte of spaces
// still encodes in linear-logarithmic time.
constexpr size_t kShortPiece = 64;

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// The token as it is written in the files, quoted for messages.
std::string written_form(std::string_view bytes) {
  std::string out = "\"";
  out += bytes_to_unicode_text(bytes);
  out += '"';
  return out;
}

}  // namespace

bool is_special_token_form(std::string_view text) {
  if (text.size() < 5 || !text.starts_with("<|") || !text.ends_with("|>")) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7F; });
}

BpeTokenizer::BpeTokenizer(BpeVocab vocab) : vocab_(std::move(vocab)) {
  const std::vector<std::string>& tokens = vocab_.tokens;
  const int32_t n = vocab_size();
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  token_ids_.reserve(tokens.size());
  for (int32_t id = 0; id < n; ++id) {
    const std::string& t = tokens[id];
    MOE_CHECK(!t.empty(), "BPE vocabulary: token ", id, " is empty");
    const auto [it, inserted] = token_ids_.emplace(t, id);
    MOE_CHECK(inserted, "BPE vocabulary: token ", written_form(t), " appears twice (ids ",
              it->second, " and ", id, ")");
    if (t.size() == 1) byte_ids_[static_cast<unsigned char>(t[0])] = id;
  }
  for (int b = 0; b < 256; ++b)
    MOE_CHECK(byte_ids_[b] >= 0, "BPE vocabulary: the single byte ",
              written_form(std::string(1, static_cast<char>(b))), " has no token");

  // Every token past the bytes is produced by exactly one merge, or is a special token.
  std::vector<int32_t> produced_by(n, -1);
  for (size_t r = 0; r < vocab_.merges.size(); ++r) {
    const auto [left, right] = vocab_.merges[r];
    MOE_CHECK(left >= 0 && left < n && right >= 0 && right < n, "BPE merge ", r + 1,
              " names a token id out of range for a vocabulary of ", n);
    const std::string merged = tokens[left] + tokens[right];
    const auto it = token_ids_.find(merged);
    MOE_CHECK(it != token_ids_.end(), "BPE merge ", r + 1, " (", written_form(tokens[left]), " + ",
              written_form(tokens[right]), ") makes ", written_form(merged),
              ", which is not in the vocabulary");
    MOE_CHECK(produced_by[it->second] < 0, "BPE merges ", produced_by[it->second] + 1, " and ",
              r + 1, " both make ", written_form(merged));
    produced_by[it->second] = static_cast<int32_t>(r);
  }
  std::vector<std::string> special_texts;
  for (int32_t id = 0; id < n; ++id) {
    if (tokens[id].size() == 1 || produced_by[id] >= 0) continue;
    MOE_CHECK(is_special_token_form(tokens[id]), "BPE vocabulary: token ", written_form(tokens[id]),
              " (id ", id,
              ") is neither a byte, nor made by a merge, nor a special token <|name|>: the ", n,
              " tokens and ", vocab_.merges.size(), " merges do not belong together");
    special_ids_.push_back(id);
    special_texts.push_back(tokens[id]);
    token_ids_.erase(tokens[id]);
    if (tokens[id] == "<|endoftext|>") eot_id_ = id;
  }
  for (int32_t id : special_ids_)
    for (const auto& [left, right] : vocab_.merges)
      MOE_CHECK(left != id && right != id, "BPE vocabulary: special token ", tokens[id],
                " takes part in a merge");
  pretokenizer_ = std::make_unique<Pretokenizer>(std::move(special_texts));

  // tiktoken merges two adjacent parts whenever their concatenation is a token, whichever merge
  // made it, so the table holds every split of every merged token into two ordinary tokens.
  std::vector<std::pair<uint64_t, uint64_t>> entries;
  for (int32_t id = 0; id < n; ++id) {
    if (produced_by[id] < 0) continue;
    const std::string_view t = tokens[id];
    const uint64_t value =
        (static_cast<uint64_t>(produced_by[id]) << 32) | static_cast<uint32_t>(id);
    for (size_t k = 1; k < t.size(); ++k) {
      const auto left = token_ids_.find(t.substr(0, k));
      const auto right = token_ids_.find(t.substr(k));
      if (left != token_ids_.end() && right != token_ids_.end())
        entries.emplace_back(pair_key(left->second, right->second), value);
    }
  }
  size_t capacity = 16;
  pair_table_shift_ = 60;
  while (capacity < 2 * entries.size())
    capacity *= 2, --pair_table_shift_;
  pair_table_.assign(capacity, {kEmptyKey, kNoMerge});
  for (const auto& [key, value] : entries) {
    size_t slot = (key * 0x9E3779B97F4A7C15ull) >> pair_table_shift_;
    while (pair_table_[slot].first != kEmptyKey)
      slot = (slot + 1) & (capacity - 1);
    pair_table_[slot] = {key, value};
  }
}

uint64_t BpeTokenizer::pair_merge(int32_t left, int32_t right) const {
  const uint64_t key = pair_key(left, right);
  const size_t mask = pair_table_.size() - 1;
  for (size_t slot = (key * 0x9E3779B97F4A7C15ull) >> pair_table_shift_;;
       slot = (slot + 1) & mask) {
    const auto& [k, value] = pair_table_[slot];
    if (k == key) return value;
    if (k == kEmptyKey) return kNoMerge;
  }
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out,
                                std::vector<uint64_t>& merges) const {
  if (const auto it = token_ids_.find(piece); it != token_ids_.end()) {
    out.push_back(it->second);
    return;
  }
  if (piece.size() > kShortPiece) {
    encode_long_piece(piece, out);
    return;
  }
  // The parts are out[first..]; merges[i] is what joining parts i and i+1 would give.
  const size_t first = out.size();
  for (char b : piece)
    out.push_back(byte_ids_[static_cast<unsigned char>(b)]);
  int32_t* parts = out.data() + first;
  size_t n = piece.size();
  merges.resize(n);
  for (size_t i = 0; i + 1 < n; ++i)
    merges[i] = pair_merge(parts[i], parts[i + 1]);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i)
      if (merges[i] < merges[best]) best = i;  // strict: the leftmost of equal ranks
    if (merges[best] == kNoMerge) break;
    parts[best] = static_cast<int32_t>(merges[best] & 0xFFFFFFFFu);
    std::copy(parts + best + 2, parts + n, parts + best + 1);
    if (best + 2 < n)  // drop merges[best + 1], the pair that began at the absorbed part
      std::copy(merges.begin() + best + 2, merges.begin() + n - 1, merges.begin() + best + 1);
    --n;
    if (best > 0) merges[best - 1] = pair_merge(parts[best - 1], parts[best]);
    if (best + 1 < n) merges[best] = pair_merge(parts[best], parts[best + 1]);
  }
  out.resize(first + n);
}

void BpeTokenizer::encode_long_piece(std::string_view piece, std::vector<int32_t>& out) const {
  // Parts form a linked list over byte offsets; the heap holds (merge, offset of the left part)
  // and pops the lowest rank, leftmost first, exactly the order of encode_piece's scan. Entries
  // whose pair has changed since they were pushed are skipped.
  const size_t n = piece.size();
  std::vector<int32_t> part(n);
  std::vector<size_t> next(n), prev(n);
  std::vector<uint64_t> merge(n, kNoMerge);
  std::vector<bool> alive(n, true);
  using Entry = std::pair<uint64_t, size_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  for (size_t i = 0; i < n; ++i) {
    part[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
    next[i] = i + 1;
    prev[i] = i - 1;  // wraps for i = 0; never read there
  }
  const auto update = [&](size_t i) {
    merge[i] = next[i] < n ? pair_merge(part[i], part[next[i]]) : kNoMerge;
    if (merge[i] != kNoMerge) heap.emplace(merge[i], i);
  };
  for (size_t i = 0; i < n; ++i)
    update(i);
  while (!heap.empty()) {
    const auto [m, i] = heap.top();
    heap.pop();
    if (!alive[i] || merge[i] != m) continue;
    const size_t gone = next[i];
    part[i] = static_cast<int32_t>(m & 0xFFFFFFFFu);
    alive[gone] = false;
    next[i] = next[gone];
    if (next[i] < n) prev[next[i]] = i;
    update(i);
    if (i > 0) update(prev[i]);
  }
  for (size_t i = 0; i < n; i = next[i])
    out.push_back(part[i]);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3);
  std::vector<uint64_t> merge_scratch(kShortPiece);
  Pretokenizer::Cursor cursor = pretokenizer_->pieces(text);
  Pretokenizer::Piece piece;
  while (cursor.next(piece)) {
    if (piece.special >= 0)
      ids.push_back(special_ids_[piece.special]);
    else
      encode_piece(piece.text, ids, merge_scratch);
  }
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    MOE_CHECK(id >= 0 && id < vocab_size(), "token id ", id,
              " is out of range for a vocabulary of ", vocab_size());
    out += vocab_.tokens[id];
  }
  return out;
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::load(const std::string& encoder_json_path,
                                                 const std::string& vocab_bpe_path) {
  // Read in this order so that a missing encoder.json is the error reported first.
  const std::string encoder_json = read_file(encoder_json_path);
  return parse(encoder_json, read_file(vocab_bpe_path), encoder_json_path, vocab_bpe_path);
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::parse(std::string_view encoder_json,
                                                  std::string_view vocab_bpe,
                                                  const std::string& encoder_json_path,
                                                  const std::string& vocab_bpe_path) {
  const nlohmann::json encoder = parse_json(encoder_json, encoder_json_path);
  MOE_CHECK(encoder.is_object() && !encoder.empty(), encoder_json_path,
            " is not a JSON object of token ids");
  const size_t n = encoder.size();
  BpeVocab vocab;
  vocab.tokens.resize(n);
  std::vector<bool> seen(n, false);
  std::unordered_map<std::string, int32_t> id_of;  // token as written in the files -> id
  for (const auto& [written, value] : encoder.items()) {
    MOE_CHECK(value.is_number_integer(), encoder_json_path, ": the id of token \"",
              excerpt(written), "\" is not an integer");
    const int64_t id = value.get<int64_t>();
    MOE_CHECK(id >= 0 && id < static_cast<int64_t>(n), encoder_json_path, ": token \"",
              excerpt(written), "\" has id ", id, ", but ids must be 0..", n - 1, " for its ", n,
              " entries");
    MOE_CHECK(!seen[id], encoder_json_path, ": id ", id, " is given to two tokens");
    seen[id] = true;
    // Special tokens are written as themselves; the others through the byte map.
    std::optional<std::string> bytes = is_special_token_form(written)
                                           ? std::optional<std::string>(written)
                                           : unicode_text_to_bytes(written);
    MOE_CHECK(bytes.has_value(), encoder_json_path, ": token \"", excerpt(written),
              "\" holds a character outside GPT-2's byte map");
    vocab.tokens[id] = std::move(*bytes);
    id_of.emplace(written, static_cast<int32_t>(id));
  }

  std::string_view rest = vocab_bpe;
  size_t line_no = 0;
  const auto next_line = [&]() {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    // Copies from some mirrors end lines with CRLF. The byte map writes a '\r' byte as U+010D,
    // so a raw '\r' is never part of a token and the merges read are those of the LF file.
    if (line.ends_with('\r')) line.remove_suffix(1);
    return line;
  };
  MOE_CHECK(next_line() == kVocabHeader, vocab_bpe_path, " does not start with the line \"",
            kVocabHeader, "\"");
  while (!rest.empty()) {
    const std::string_view line = next_line();
    if (line.empty() && rest.empty()) break;  // the final newline
    const size_t space = line.find(' ');
    MOE_CHECK(space != std::string_view::npos && space > 0 && space + 1 < line.size() &&
                  line.find(' ', space + 1) == std::string_view::npos,
              vocab_bpe_path, " line ", line_no, ": expected \"LEFT RIGHT\", got \"", excerpt(line),
              "\"");
    std::pair<int32_t, int32_t> merge;
    for (auto [part, id] : {std::pair{line.substr(0, space), &merge.first},
                            std::pair{line.substr(space + 1), &merge.second}}) {
      const auto it = id_of.find(std::string(part));
      MOE_CHECK(it != id_of.end(), vocab_bpe_path, " line ", line_no, ": merge names token \"",
                excerpt(part), "\", which is not in ", encoder_json_path);
      *id = it->second;
    }
    vocab.merges.push_back(merge);
  }
  try {
    return std::make_unique<BpeTokenizer>(std::move(vocab));
  } catch (const Error& e) {
    fail(encoder_json_path, " + ", vocab_bpe_path, ": ", e.what());
  }
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::load_dir(const std::string& dir) {
  return load(dir + "/encoder.json", dir + "/vocab.bpe");
}

std::string BpeTokenizer::written_token(int32_t id) const {
  return std::find(special_ids_.begin(), special_ids_.end(), id) != special_ids_.end()
             ? vocab_.tokens[id]
             : bytes_to_unicode_text(vocab_.tokens[id]);
}

std::string BpeTokenizer::encoder_json() const {
  // In id order, laid out as GPT-2's file ({"!": 0, "\"": 1, ...}); written by hand because a
  // JSON object that keeps insertion order looks keys up linearly.
  std::string encoder = "{";
  for (int32_t id = 0; id < vocab_size(); ++id) {
    if (id > 0) encoder += ", ";
    encoder += nlohmann::json(written_token(id)).dump() + ": " + std::to_string(id);
  }
  return encoder + "}";
}

std::string BpeTokenizer::vocab_bpe() const {
  std::string merges = std::string(kVocabHeader) + "\n";
  for (const auto& [left, right] : vocab_.merges)
    merges += written_token(left) + " " + written_token(right) + "\n";
  return merges;
}

void BpeTokenizer::save(const std::string& dir) const {
  write_file_atomic(dir + "/encoder.json", encoder_json());
  write_file_atomic(dir + "/vocab.bpe", vocab_bpe());
  const nlohmann::ordered_json info = {{"type", "bpe"},
                                       {"vocab_size", vocab_size()},
                                       {"merges", vocab_.merges.size()},
                                       {"special_tokens", special_tokens()}};
  write_file_atomic(dir + "/tokenizer.json", info.dump(2) + "\n");
}

}  // namespace moe
