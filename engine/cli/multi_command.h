// The several-VM flags of `vmmu run` (--vms, --quantum, --vms-file) and what they run.
#pragma once

#include "engine/experiment/run_flags.h"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace vmmu {

struct MultiFlags {
    uint64_t vms = 1;
    uint64_t quantum = 0; // 0: not given (kDefaultQuantum, or the file's)
    std::string vms_file;
    CLI::Option* vms_opt = nullptr;
    CLI::Option* quantum_opt = nullptr;

    void add(CLI::App* c);
    // True when the command line asks for the several-VM run.
    bool wanted() const;
    // Runs the VMs, prints the table, writes the vmmu.multi/1 JSON; returns the exit code.
    int run(RunFlags& flags, const std::string& json_path) const;
};

} // namespace vmmu
