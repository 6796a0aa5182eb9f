// The `moe` command line: subcommands parse flags and call the library. Every failure the user
// can cause ends here as one line "error: ..." and exit code 1. Started by an MPI launcher
// (mpirun -np N moe train|compare ...), the process is one rank of a data-parallel run; a rank
// that fails prints its error with its rank and ends the whole job.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "apps/commands.h"
#include "core/check.h"
#include "dist/launch.h"

namespace {

// One line on stderr; in a job of several processes it names the rank and then ends every
// process of the job (the others may be waiting for this one in a collective, which would hang).
void report_error(std::string_view what) {
  moe::Communicator& world = moe::world();
  if (world.size() == 1) {
    std::cerr << "error: " << what << "\n";
    return;
  }
  // One write, so that the lines of ranks failing together do not interleave.
  const std::string line =
      moe::str_cat("error: rank ", world.rank(), " of ", world.size(), ": ", what, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  world.abort(1);
}

int run(int argc, char** argv) {
  CLI::App app{"moe: build, train and run Mixture-of-Experts language models"};
  app.require_subcommand(1);
  add_train_command(app);
  add_eval_command(app);
  add_generate_command(app);
  add_info_command(app);
  add_report_command(app);
  add_compare_command(app);
  add_prepare_command(app);
  add_tokenize_command(app);
  add_train_tokenizer_command(app);
  add_export_command(app);
  add_import_command(app);
  add_upcycle_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const ExitStatus& e) {
    return e.code;
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes (105, 106, ...) would tell scripts nothing our errors do not.
    std::cerr << "error: " << e.what() << " (see moe --help)\n";
    return 1;
  } catch (const std::exception& e) {
    report_error(e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    moe::set_world(moe::communicator_for_launch(&argc, &argv));
    const moe::Communicator& world = moe::world();
    const std::string_view command = argc > 1 ? argv[1] : "";
    MOE_CHECK(world.size() == 1 || command == "train" || command == "compare",
              "only moe train and moe compare run on several processes (mpirun -np ", world.size(),
              " moe train ...); run other commands as one process");
  } catch (const std::exception& e) {
    report_error(e.what());
    return 1;
  }
  return run(argc, argv);
}
