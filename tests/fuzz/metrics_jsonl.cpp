// Fuzzes a run's metrics.jsonl as `moe report` uses it: parse_run_log, then the HTML report and
// the comparison row built from the parsed log.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "report/report_html.h"
#include "report/run_log.h"
#include "report/summary_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  moe::fuzz::parse_or_reject([&] {
    const moe::RunLog log =
        moe::parse_run_log(std::string(moe::fuzz::as_text(data, size)), "metrics.jsonl", "fuzz");
    const std::string page = moe::run_report_html(log);
    FUZZ_REQUIRE(page.find("</html>") != std::string::npos, "the report is a whole page");
    const std::string csv = moe::summary_csv({moe::summarize(log)});
    FUZZ_REQUIRE(!csv.empty(), "the summary row is written");
  });
  return 0;
}
