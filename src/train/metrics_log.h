// A JSON-lines metrics file: one JSON object per line, flushed as written so that a crashed or
// interrupted run keeps every record up to its last step.
#pragma once
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace moe {

class MetricsLog {
 public:
  // append = false truncates an existing file; true continues it (a resumed run).
  MetricsLog(const std::string& path, bool append);
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace moe
