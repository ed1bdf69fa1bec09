// The teaching kernel as the integration tests boot it: the built kernel and every built-in
// program (in name order, so each program gets the same text slot in every test), running
// `cmdline`; the test sets the rest (vCPUs, budget, memory, flags).
#pragma once

#include "engine/core/machine.h"

#include <algorithm>
#include <filesystem>
#include <string>

namespace vmmu::testing {

inline MachineConfig kernel_config(const std::string& cmdline) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/kernel.elf";
    for (auto& e : std::filesystem::directory_iterator(VMMU_GUEST_DIR "/programs"))
        if (e.path().extension() == ".elf") c.program_paths.push_back(e.path().string());
    std::sort(c.program_paths.begin(), c.program_paths.end());
    c.cmdline = cmdline;
    return c;
}

} // namespace vmmu::testing
