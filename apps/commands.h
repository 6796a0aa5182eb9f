// Each subcommand registers its flags and its action on the CLI11 app.
#pragma once
#include <CLI/CLI.hpp>

// Thrown by a command that has reported its outcome itself and must end with this exit status
// (a run stopped by a signal: 128 + the signal, as a shell reports it).
struct ExitStatus {
  int code;
};

void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_prepare_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_train_tokenizer_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_import_command(CLI::App& app);
void add_upcycle_command(CLI::App& app);
