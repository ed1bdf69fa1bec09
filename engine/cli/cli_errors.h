// What to tell the user after a command-line parse error: the valid choices where it happened.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace vmmu {

// "valid subcommands: run, list, ..." when a subcommand is missing or unknown, otherwise
// "valid flags for 'vmmu run': --workload, ..." for the deepest subcommand parsed so far.
std::string parse_error_choices(const CLI::App& app);
// "unknown flag '--sesions' for 'vmmu study scaling': did you mean --sessions?" when a word
// CLI11 did not expect is a near miss of a flag of the deepest subcommand; "" otherwise.
std::string unknown_flag_hint(const CLI::App& app);
// The flag of `flags` closest to `unknown` by edit distance, or "" when none is close.
std::string nearest_flag(const std::string& unknown, const std::vector<std::string>& flags);

// For --json FILE and --out DIR: an empty value is a mistake (a shell variable that was not
// set), not a request for no output.
inline CLI::Validator non_empty_path() {
    return CLI::Validator(
        [](std::string& s) { return std::string(s.empty() ? "needs a path, got ''" : ""); },
        "PATH");
}

} // namespace vmmu
