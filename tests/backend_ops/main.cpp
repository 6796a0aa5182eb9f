// backend_ops [FILTER]: runs every op case (those whose name contains FILTER) on every backend
// and dtype, prints one line per check and a summary, and exits non-zero when any check fails.
// Backends not compiled in, or without a device on this machine, are reported as skipped.
#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "core/check.h"
#include "harness.h"

namespace {

using namespace moe;
using namespace moe::backend_ops;

std::vector<OpCase> all_cases(const std::string& filter) {
  std::vector<OpCase> cases;
  for (auto group :
       {elementwise_cases, layer_cases, moe_cases, attention_cases, router_score_cases})
    for (OpCase& c : group())
      if (c.name.find(filter) != std::string::npos) cases.push_back(std::move(c));
  return cases;
}

bool runs_in(const OpCase& c, DType dtype) {
  return c.dtypes.empty() || std::find(c.dtypes.begin(), c.dtypes.end(), dtype) != c.dtypes.end();
}

void print(const char* status, const std::string& where, const OpCase& c, const std::string& what) {
  std::printf("%-5s %-8s %-52s %s\n", status, where.c_str(), c.name.c_str(), what.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<OpCase> cases = all_cases(argc > 1 ? argv[1] : "");
  int failed = 0, checked = 0, gradient_cases = 0;
  std::vector<std::string> skipped;
  std::string checked_where;  // "cpu F32: 42"

  // The reference of every case, its gradients checked by finite differences.
  std::vector<Results> refs;
  for (const OpCase& c : cases) {
    try {
      refs.push_back(reference_results(c));
      if (c.gradients.empty()) continue;
      const Check g = check_gradients(c);
      ++gradient_cases;
      print(g.ok ? "grad" : "FAIL", "cpu F64", c,
            g.ok ? "finite differences " + sci(g.error) : g.detail);
      failed += !g.ok;
    } catch (const Error& e) {
      refs.emplace_back();
      print("FAIL", "cpu F64", c, e.what());
      ++failed;
    }
  }

  for (Device device : kAllDevices) {
    const Backend* backend = find_backend(device);
    if (backend == nullptr) {
      skipped.push_back(std::string(device_name(device)) + " (" + missing_backend_reason(device) +
                        ")");
      std::printf("skip  %-8s every op: %s\n", device_name(device), missing_backend_reason(device));
      continue;
    }
    for (DType dtype : checked_dtypes(*backend)) {
      const std::string where = std::string(backend->name) + " " + dtype_name(dtype);
      std::set<std::string> ops, failed_ops;
      for (size_t i = 0; i < cases.size(); ++i) {
        const OpCase& c = cases[i];
        if (device == Device::CPU && dtype == DType::F64 && !c.reference)
          continue;                                                  // the reference
        if (dtype == DType::BF16 && !c.mixed_precision()) continue;  // no GEMM, no cast
        if (!runs_in(c, dtype)) {
          skipped.push_back(where + " " + c.name + " (" + c.dtype_reason + ")");
          print("skip", where, c, c.dtype_reason);
          continue;
        }
        if (refs[i].empty()) continue;  // its reference failed, reported above
        Check check;
        try {
          check = compare(c, run_case(c, *backend, dtype), refs[i], dtype);
        } catch (const Error& e) {
          check = {false, 0.0, e.what()};
        }
        print(check.ok ? "ok" : "FAIL", where, c,
              check.ok ? "max error " + sci(check.error) : check.detail);
        failed += !check.ok;
        (check.ok ? ops : failed_ops).insert(c.ops.begin(), c.ops.end());
      }
      // An op counts as checked when every case that runs it passed.
      std::erase_if(ops, [&](const std::string& op) { return failed_ops.count(op) > 0; });
      checked += static_cast<int>(ops.size());
      if (!ops.empty())
        checked_where +=
            (checked_where.empty() ? "" : ", ") + where + ": " + std::to_string(ops.size());
    }
  }

  std::set<std::string> all_ops;
  for (const OpCase& c : cases)
    all_ops.insert(c.ops.begin(), c.ops.end());
  std::printf(
      "\nbackend-ops: %d op x backend x dtype checked against the cpu F64 reference (%s; "
      "%zu ops in %zu cases), finite-difference gradients of the reference in %d cases, "
      "%d failed, %zu skipped\n",
      checked, checked_where.empty() ? "none" : checked_where.c_str(), all_ops.size(), cases.size(),
      gradient_cases, failed, skipped.size());
  for (const std::string& s : skipped)
    std::printf("  skipped: %s\n", s.c_str());
  return failed == 0 && !cases.empty() ? 0 : 1;
}
