// The flags of `vmmu run`, shared by every command that runs a guest (run, sweep, baseline) so a
// sweep or a suite entry means exactly what the same words mean on a `vmmu run` command line.
#pragma once

#include "engine/experiment/run.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace vmmu {

struct RunFlags {
    RunOptions o;
    std::string backends = "native,shadow,slat";
    std::string pwc = "on", ntlb = "on", oracle = "on";
    std::string caches = "on", price_data = "off";
    std::vector<std::string> backend_profiles;
    // Was --workload given? (--program alone runs the program.) Null where the command has no
    // --workload (study scaling): --program then only adds a file to the archive.
    CLI::Option* workload_flag = nullptr;

    void add(CLI::App* c);
    // Turns the parsed strings into options; throws std::invalid_argument naming a bad value.
    RunOptions resolve();
};

// Parses `args` (what would follow `vmmu run`) into options, as `vmmu run` would.
// Throws std::invalid_argument with CLI11's message on an unknown flag or a bad value.
RunOptions parse_run_args(const std::vector<std::string>& args);

} // namespace vmmu
