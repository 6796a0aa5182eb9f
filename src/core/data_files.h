// Where shared data files (corpora, GPT-2's tokenizer files) are looked for: $MOE_DATA_DIR when it
// is set, then ./data (scripts/get_data.sh's default), then ../shared/data (a mirror beside the
// checkout).
#pragma once
#include <string>

namespace moe {

// The path of RELATIVE (a file or directory) under the first of those directories that holds it.
// When none does, throws "cannot find WHAT: looked in A, B, C (HINT)".
std::string find_data_file(const std::string& relative, const std::string& what,
                           const std::string& hint);

}  // namespace moe
