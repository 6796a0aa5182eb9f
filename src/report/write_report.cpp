#include "report/write_report.h"

#include <cstdio>
#include <exception>

#include "core/fs.h"
#include "report/report_html.h"
#include "report/run_log.h"

namespace moe {

std::string write_run_report(const std::string& run_dir, const std::string& out_path) {
  const std::string path = out_path.empty() ? run_dir + "/report.html" : out_path;
  write_file_atomic(path, run_report_html(read_run_log(run_dir)));
  return path;
}

void refresh_run_report(const std::string& run_dir) noexcept {
  try {
    write_run_report(run_dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: report.html not updated: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "warning: report.html not updated: unknown error\n");
  }
}

}  // namespace moe
