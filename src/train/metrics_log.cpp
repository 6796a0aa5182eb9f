#include "train/metrics_log.h"

#include <cerrno>
#include <cstring>

#include "core/check.h"

namespace moe {

MetricsLog::MetricsLog(const std::string& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  MOE_CHECK(out_.is_open(), "cannot open metrics log ", path, ": ", std::strerror(errno));
}

void MetricsLog::write(const nlohmann::json& record) {
  // Invalid UTF-8 in a string value is replaced rather than aborting a training run.
  out_ << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  out_.flush();
  MOE_CHECK(out_.good(), "cannot write metrics log ", path_, " (disk full?)");
}

}  // namespace moe
