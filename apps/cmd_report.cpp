// moe report RUN_DIR [--out FILE]: renders the run's metrics.jsonl as a self-contained HTML page
// (default RUN_DIR/report.html).
#include <iostream>
#include <string>

#include "apps/commands.h"
#include "apps/flags.h"
#include "report/write_report.h"

namespace {

struct ReportFlags {
  std::string run_dir, out;
};

}  // namespace

void add_report_command(CLI::App& app) {
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* cmd = app.add_subcommand("report", "write a run's report.html (charts, summary)");
  cmd->add_option("run_dir", flags->run_dir, "run directory (holds metrics.jsonl)")->required();
  cmd->add_option("--out", flags->out, "output file (default RUN_DIR/report.html)")
      ->check(non_empty());
  cmd->callback([flags] {
    const std::string path = moe::write_run_report(flags->run_dir, flags->out);
    std::cout << "report: " << path << "\n";
  });
}
