// Events that come from the host rather than from the guest: the host scheduler taking the CPU
// from a VM, and the host remapping one of its guest frames (memory deduplication). MMU schemes
// (engine/mmu/backend.h) hear them to count what their hypervisor pays.
#pragma once

#include "engine/core/addr.h"

#include <cstdint>

namespace vmmu {

// What the host did to one guest frame (memory deduplication, engine/host/dedup.h).
enum class HostRemap : uint8_t {
    Merged,        // now maps a frame shared read-only with identical frames
    BrokenByWrite, // the guest writes it: copy-on-write gave it a private frame again
    Diverged,      // the host found it changed by a write no backend saw (the emulator setting
                   // A/D bits in a guest page table): a private frame again
};

class HostObserver {
public:
    virtual ~HostObserver() = default;
    // Several VMs (docs/ARCHITECTURE.md): the host scheduler takes the CPU from this VM to run
    // another one, after this VM's quantum. Under a hypervisor that is a VM exit (and later an
    // entry).
    virtual void on_world_switch() {}
    // The host remapped guest frame `frame` (its p2m entry is already updated): cached state for
    // it must be write-protected, repointed or dropped.
    virtual void on_host_remap(GuestPhys /*frame*/, HostRemap /*what*/) {}
};

} // namespace vmmu
