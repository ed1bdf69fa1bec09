// The host's scheduler for several VMs on one modelled CPU: round-robin in quanta of guest
// instructions (never host time, so runs stay deterministic). A VM that used up its quantum while
// another VM is runnable loses the CPU: a world switch, which its MMU models hear
// (HostObserver::on_world_switch) and count as their scheme would (an exit under a hypervisor,
// a TLB flush without VPID). docs/ARCHITECTURE.md, "Several VMs".
#pragma once

#include "engine/core/machine.h"
#include "engine/host/host_events.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace vmmu {

// One VM as the scheduler sees it.
struct ScheduledVm {
    Machine* machine = nullptr;
    RunResult* result = nullptr;          // where the VM's run result accumulates
    std::vector<HostObserver*> observers; // hear the VM's world switches
    uint64_t quanta = 0;                  // times it was scheduled
    uint64_t world_switches = 0;          // times it lost the CPU to another VM
    bool done = false;                    // its guest stopped
};

// Runs the VMs to the end. After each quantum, `after_quantum(ran)` gets the guest instructions
// it ran (host work such as deduplication's scanner is clocked by them). Returns true when a
// VM's run was interrupted (request_stop): the VMs not done then are left unfinished.
bool run_round_robin(std::vector<ScheduledVm>& vms, uint64_t quantum,
                     const std::function<void(uint64_t ran)>& after_quantum);

} // namespace vmmu
