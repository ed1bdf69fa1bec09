// Several VMs on one modelled host (docs/ARCHITECTURE.md "Several VMs").
//
// Each VM is a full vmmu run of its own (its Machine, Unicorn instance, guest-physical memory and
// backends); the host schedules them round-robin in quanta of guest instructions
// (engine/host/vm_scheduler.h), and after each quantum the VM that loses the CPU gets
// HostObserver::on_world_switch (an exit under shadow and slat, a TLB flush unless VPID; see the
// backends). Host memory is one pool of host frames in which every VM owns its own 1 GiB-aligned
// range (host_layout) followed by its hypervisor structures, and every host frame has one owner
// (HostFrames).
#pragma once

#include "engine/experiment/run.h"
#include "engine/host/host_frames.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace vmmu {

// Host instructions between two VM switches. Linux CFS gives a runnable task a slice of
// about sched_latency/nr_running = 24 ms / 4 ≈ 6 ms at 4+ runnable vCPUs (kernel/sched/fair.c,
// sysctl_sched_latency 6 ms × (1 + ilog2(ncpus))); at ~1 instruction/cycle and 3 GHz that is
// ~2e7 instructions. Our workloads are short, so the default is 1e6 (a ~0.3 ms slice) to see
// several switches per VM; it is a flag because the answer depends on it.
constexpr uint64_t kDefaultQuantum = 1'000'000;

struct MultiOptions {
    std::vector<RunOptions> vms; // one per VM, in scheduling order
    uint64_t quantum = kDefaultQuantum;
};

// Host memory a VM occupies: the guest frames it touched (accessed, fetched, or walked), which a
// host allocating guest memory on demand has to back (KVM faults guest pages in lazily).
struct VmMemory {
    uint64_t frames_touched = 0;
    uint64_t bytes() const { return frames_touched << 12; }
};

struct VmOutput {
    RunOutput run;               // the VM's own run: workload, guest counters, backends
    uint64_t world_switches = 0; // times this VM lost the CPU to another VM
    uint64_t quanta = 0;         // times it was scheduled
    HostRange range;
    VmMemory memory;
};

struct MultiOutput {
    MultiOptions options;
    std::vector<VmOutput> vms;
    std::vector<BackendResult> totals; // per backend: counters and cycles summed over the VMs
    // The same over each VM's measured window (--measure; README.md "Windows"): what the
    // density study prices.
    std::vector<BackendResult> measured_totals;
    // With deduplication: the most host frames the VMs held at once (touched minus saved).
    // Between two scanner passes the count only grows (frames get touched, breaks take private
    // copies; merges happen in passes), so sampling it before every pass and at the end is exact.
    uint64_t frames_in_use_peak = 0;
    double wall_seconds = 0;
};

// Boots every VM, runs them to the end in round-robin quanta and collects everything. Throws
// std::invalid_argument on bad options (no VMs, quantum 0, VMs asking for different backends).
MultiOutput execute_multi(const MultiOptions& options);

// Reads a vmmu.vms/1 file: {"schema": "vmmu.vms/1", "quantum": Q, "vms": [scenario, ...]},
// each VM a vmmu.scenario/1 object (engine/experiment/scenario.h) without its "schema" key.
MultiOptions load_vms_file(const std::string& path);

// Exit code and status of the whole run: the worst VM's.
int multi_exit_code(const MultiOutput& out);
std::string multi_status(const MultiOutput& out);

// The vmmu.multi/1 document and the text table: engine/output/multi_report.h.

} // namespace vmmu
