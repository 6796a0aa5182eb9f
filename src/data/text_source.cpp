#include "data/text_source.h"

#include <cmath>

#include "core/check.h"
#include "core/fs.h"

namespace moe {

std::string read_text_corpus(const std::string& path) {
  std::string text = read_file(path);
  MOE_CHECK(!text.empty(), "corpus ", path, " is empty");
  return text;
}

TokenSplits split_tokens(std::vector<int32_t> tokens, double train_fraction) {
  MOE_CHECK(train_fraction > 0.0 && train_fraction <= 1.0, "train fraction ", train_fraction,
            " must be in (0, 1]");
  const size_t n_train =
      static_cast<size_t>(std::floor(static_cast<double>(tokens.size()) * train_fraction));
  MOE_CHECK(n_train > 0, "train fraction ", train_fraction, " of ", tokens.size(),
            " tokens leaves no training tokens");
  TokenSplits splits;
  splits.val.assign(tokens.begin() + static_cast<std::ptrdiff_t>(n_train), tokens.end());
  tokens.resize(n_train);
  splits.train = std::move(tokens);
  return splits;
}

}  // namespace moe
