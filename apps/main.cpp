// The `moe` command line: subcommands parse flags and call the library. Every failure the user
// can cause ends here as one line "error: ..." and exit code 1.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/commands.h"
#include "core/check.h"

int main(int argc, char** argv) {
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
  } catch (const moe::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
