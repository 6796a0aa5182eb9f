// Each subcommand registers its flags and its action on the CLI11 app.
#pragma once
#include <CLI/CLI.hpp>

void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_prepare_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_train_tokenizer_command(CLI::App& app);
