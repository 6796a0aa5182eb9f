#include "core/data_files.h"

#include <cstdlib>
#include <vector>

#include "core/check.h"
#include "core/fs.h"

namespace moe {

std::string find_data_file(const std::string& relative, const std::string& what,
                           const std::string& hint) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("MOE_DATA_DIR"); env && *env)
    candidates.push_back(std::string(env) + "/" + relative);
  candidates.push_back("./data/" + relative);
  candidates.push_back("../shared/data/" + relative);
  for (const std::string& path : candidates)
    if (file_exists(path)) return path;
  std::string looked;
  for (const std::string& path : candidates)
    looked += (looked.empty() ? "" : ", ") + path;
  fail("cannot find ", what, ": looked in ", looked, " (", hint, ")");
}

}  // namespace moe
