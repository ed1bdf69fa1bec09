// Each subcommand registers itself on the `vmmu` app and sets `action` to run when chosen.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace vmmu {

// Exit code of a command that started several runs and some failed (the README's exit codes).
inline constexpr int kExitRunsFailed = 6;

// What a chosen subcommand does; returns the process exit code.
using Action = std::function<int()>;

void add_run_command(CLI::App& app, Action& action);
void add_list_command(CLI::App& app, Action& action);
void add_study_command(CLI::App& app, Action& action);
// `study density` (several VMs); call after add_study_command.
void add_density_command(CLI::App& app, Action& action);
void add_demo_command(CLI::App& app, Action& action);
void add_quiz_command(CLI::App& app, Action& action);
void add_validate_command(CLI::App& app, Action& action);
void add_compare_command(CLI::App& app, Action& action);
void add_baseline_command(CLI::App& app, Action& action);
void add_sweep_command(CLI::App& app, Action& action);
void add_report_command(CLI::App& app, Action& action);
void add_export_command(CLI::App& app, Action& action);
void add_cc_command(CLI::App& app, Action& action);

} // namespace vmmu
