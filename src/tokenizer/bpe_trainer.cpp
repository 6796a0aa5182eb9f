#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <queue>
#include <set>
#include <unordered_map>

#include "core/check.h"
#include "tokenizer/bytes_to_unicode.h"
#include "tokenizer/pretokenizer.h"

namespace moe {
namespace {

using Pair = uint64_t;  // (left id << 32) | right id

Pair make_pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
int32_t left_of(Pair p) {
  return static_cast<int32_t>(p >> 32);
}
int32_t right_of(Pair p) {
  return static_cast<int32_t>(p & 0xFFFFFFFFu);
}

// A distinct piece of the corpus as its current tokens, and how often it occurs.
struct Word {
  std::vector<int32_t> symbols;
  int64_t count;
};

struct Candidate {
  int64_t count;
  Pair pair;
};

void check_options(const BpeTrainingOptions& options) {
  const std::vector<std::string>& specials = options.special_tokens;
  for (const std::string& s : specials)
    MOE_CHECK(is_special_token_form(s), "special token \"", s,
              "\" must be written <|name|> with printable ASCII and no spaces");
  std::set<std::string> distinct(specials.begin(), specials.end());
  MOE_CHECK(distinct.size() == specials.size(), "a special token is given twice");
  const int64_t minimum = 256 + static_cast<int64_t>(specials.size());
  MOE_CHECK(options.vocab_size >= minimum, "vocab size ", options.vocab_size,
            " is smaller than the 256 byte tokens + ", specials.size(),
            " special tokens; it must be at least ", minimum);
}

// The distinct pieces of the corpus with their counts, sorted by bytes (a fixed order).
std::vector<std::pair<std::string_view, int64_t>> count_pieces(
    const std::vector<std::string_view>& texts, const std::vector<std::string>& specials,
    BpeTrainingStats& stats) {
  const Pretokenizer pretokenizer(specials);
  std::unordered_map<std::string_view, int64_t> counts;
  for (std::string_view text : texts) {
    stats.input_bytes += static_cast<int64_t>(text.size());
    Pretokenizer::Cursor cursor = pretokenizer.pieces(text);
    Pretokenizer::Piece piece;
    while (cursor.next(piece)) {
      if (piece.special >= 0) continue;
      ++counts[piece.text];
      ++stats.pieces;
    }
  }
  std::vector<std::pair<std::string_view, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  stats.unique_pieces = static_cast<int64_t>(sorted.size());
  return sorted;
}

}  // namespace

BpeVocab train_bpe(const std::vector<std::string_view>& texts, const BpeTrainingOptions& options,
                   BpeTrainingStats* stats_out) {
  check_options(options);
  BpeTrainingStats stats;
  const auto pieces = count_pieces(texts, options.special_tokens, stats);
  MOE_CHECK(!pieces.empty(), "the training corpus is empty (no text outside special tokens)");

  BpeVocab vocab;
  std::unordered_map<std::string, int32_t> id_of;  // token bytes -> id
  int32_t byte_id[256];
  for (int i = 0; i < 256; ++i) {
    const uint8_t b = byte_id_order()[i];
    byte_id[b] = i;
    vocab.tokens.emplace_back(1, static_cast<char>(b));
    id_of.emplace(vocab.tokens.back(), i);
  }

  std::vector<Word> words;
  words.reserve(pieces.size());
  for (const auto& [text, count] : pieces) {
    Word w{{}, count};
    for (char c : text)
      w.symbols.push_back(byte_id[static_cast<unsigned char>(c)]);
    words.push_back(std::move(w));
  }

  // Pair counts over all words (weighted by word counts), and for each pair the words that held
  // it when it was counted (entries may be stale; they are checked when used).
  std::unordered_map<Pair, int64_t> pair_count;
  std::unordered_map<Pair, std::vector<int32_t>> pair_words;
  for (size_t w = 0; w < words.size(); ++w) {
    const std::vector<int32_t>& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const Pair p = make_pair_key(s[i], s[i + 1]);
      pair_count[p] += words[w].count;
      std::vector<int32_t>& holders = pair_words[p];
      if (holders.empty() || holders.back() != static_cast<int32_t>(w))
        holders.push_back(static_cast<int32_t>(w));
    }
  }

  const std::vector<std::string>& tokens = vocab.tokens;
  // Max-heap order: higher count first, then the smaller left bytes, then the smaller right bytes.
  const auto after = [&tokens](const Candidate& a, const Candidate& b) {
    if (a.count != b.count) return a.count < b.count;
    const std::string& al = tokens[left_of(a.pair)];
    const std::string& bl = tokens[left_of(b.pair)];
    if (al != bl) return al > bl;  // std::string compares chars as unsigned (char_traits<char>)
    return tokens[right_of(a.pair)] > tokens[right_of(b.pair)];
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(after)> heap(after);
  for (const auto& [p, c] : pair_count)
    heap.push({c, p});

  const int32_t target_tokens =
      options.vocab_size - static_cast<int32_t>(options.special_tokens.size());
  std::vector<int64_t> stamp(words.size(), -1);  // the last merge step that rewrote each word
  std::unordered_map<Pair, int64_t> delta;       // pair count changes of one merge step
  for (int64_t step = 0; static_cast<int32_t>(tokens.size()) < target_tokens && !heap.empty();
       ++step) {
    const Candidate top = heap.top();
    heap.pop();
    const auto found = pair_count.find(top.pair);
    const int64_t current = found == pair_count.end() ? 0 : found->second;
    if (current != top.count) {  // stale: counts changed since it was pushed
      if (current > 0) heap.push({current, top.pair});
      continue;
    }
    if (current < 2) break;  // no pair occurs twice: further merges would only memorise
    const int32_t left = left_of(top.pair), right = right_of(top.pair);
    const std::string merged = tokens[left] + tokens[right];
    // A pair whose concatenation is already a token (made from a different split) joins into
    // that token: no new token, no new merge, since tiktoken's rule merges by the bytes anyway.
    int32_t merged_id;
    if (const auto it = id_of.find(merged); it != id_of.end()) {
      merged_id = it->second;
    } else {
      merged_id = static_cast<int32_t>(tokens.size());
      vocab.tokens.push_back(merged);
      id_of.emplace(merged, merged_id);
      vocab.merges.emplace_back(left, right);
    }

    delta.clear();
    std::vector<int32_t> holders = std::move(pair_words[top.pair]);
    pair_words.erase(top.pair);
    for (int32_t w : holders) {
      if (stamp[w] == step) continue;
      stamp[w] = step;
      std::vector<int32_t>& s = words[w].symbols;
      const int64_t count = words[w].count;
      bool has_pair = false;
      for (size_t i = 0; i + 1 < s.size() && !has_pair; ++i)
        has_pair = s[i] == left && s[i + 1] == right;
      if (!has_pair) continue;
      for (size_t i = 0; i + 1 < s.size(); ++i)
        delta[make_pair_key(s[i], s[i + 1])] -= count;
      // Left to right, so overlapping occurrences ("a a a" with pair "a a") merge once each.
      size_t out = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
          s[out++] = merged_id;
          ++i;
        } else {
          s[out++] = s[i];
        }
      }
      s.resize(out);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const Pair p = make_pair_key(s[i], s[i + 1]);
        delta[p] += count;
        if (s[i] == merged_id || s[i + 1] == merged_id) {
          std::vector<int32_t>& h = pair_words[p];
          if (h.empty() || h.back() != w) h.push_back(w);
        }
      }
    }
    for (const auto& [p, d] : delta) {
      if (d == 0) continue;
      int64_t& c = pair_count[p];
      c += d;
      if (d > 0) heap.push({c, p});
      if (c == 0) pair_count.erase(p);
    }
  }
  stats.merges = static_cast<int64_t>(vocab.merges.size());
  for (const std::string& s : options.special_tokens)
    vocab.tokens.push_back(s);
  if (stats_out) *stats_out = stats;
  return vocab;
}

}  // namespace moe
