// What to tell the user after a command-line parse error: the valid choices where it happened.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace vmmu {

// "valid subcommands: run, list, ..." when a subcommand is missing or unknown, otherwise
// "valid flags for 'vmmu run': --workload, ..." for the deepest subcommand parsed so far.
std::string parse_error_choices(const CLI::App& app);

} // namespace vmmu
