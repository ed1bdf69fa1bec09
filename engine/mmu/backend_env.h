// What a backend is given when it is created: the VM's memory and host mapping, its CPU
// profile, the model switches of the run, and an optional exit trace.
#pragma once

#include "engine/core/addr.h"
#include "engine/core/guest_memory.h"
#include "engine/core/hypervisor.h"
#include "engine/host/host_frames.h"
#include "engine/host/p2m.h"
#include "engine/mmu/counters.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace vmmu {

struct Profile; // engine/mmu/profile.h

// One VM exit as a hypervisor would log it (for `vmmu demo exits`): why, where, what it did.
struct ExitRecord {
    ExitReason reason;
    uint64_t rip = 0;        // guest instruction that caused the exit
    uint64_t address = 0;    // faulting gVA, written gPA, new CR3, ... (reason-specific)
    std::string_view action; // "fill", "emulate write", "unsync", "switch root", "reflect #PF", ...
    uint64_t instructions = 0; // guest time of the exit (filled in by the run, run.cpp)
};
using ExitTrace = std::function<void(const ExitRecord&)>;

struct BackendEnv {
    GuestMemory* memory = nullptr; // read guest tables; watch() page-table frames
    const P2m* p2m = nullptr;
    const HostFrames* host = nullptr; // owners of host frames (isolation check); may be absent
    int vm = 0;                       // this VM's index among the host's VMs
    const Profile* profile = nullptr;
    bool pwc = true;              // page-walk caches
    bool ntlb = true;             // nested TLB (slat)
    unsigned ept_page_shift = 12; // 12, 21 or 30 (slat)
    unsigned ept_levels = 4;      // nested page-walk length: 4 or 5 (5-level EPT)
    bool oracle = true;           // check every translation against p2m(functional)
    bool caches = false;          // walk references go through the profile's cache hierarchy
    bool price_data = false;      // with caches: data accesses beyond L1D are priced too
    bool dedup = false;           // the host deduplicates memory (on_host_remap will come)
    std::map<std::string, std::string> options; // scheme options, e.g. shadow "unsync=0"
    uint64_t initial_cr3 = 0;
    uint64_t initial_cr4 = 0;
    ExitTrace exit_trace; // if set, called for every exit (costly: demos and tests only)
    // The hypervisor personality the guest was told of (--hypervisor): a scheme that models
    // that hypervisor reports under its names (shadow: Hyper-V's VTLB counters).
    Hypervisor hypervisor = Hypervisor::None;
};

} // namespace vmmu
