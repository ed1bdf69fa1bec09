// The hypervisor's shadow MMU: what the hardware walk finds in the shadow tables, and what the
// hypervisor does on each VM exit that concerns them (KVM's behaviour, docs/ANCHORS.md and
// Documentation/virt/kvm/x86/mmu.rst). Knows nothing of TLBs or cycles; the backend does.
#pragma once

#include "engine/core/addr.h"
#include "engine/core/guest_memory.h"
#include "engine/host/p2m.h"
#include "engine/mmu/per_vcpu.h"
#include "engine/shadow/root_cache.h"
#include "engine/shadow/shadow_options.h"
#include "engine/shadow/shadow_tables.h"

#include <array>
#include <cstdint>
#include <vector>

namespace vmmu::shadow {

// One hardware walk of the shadow tables.
struct ShadowWalk {
    bool ok = false; // a present shadow leaf was found
    HostPhys hpa;    // translation of the walked address
    unsigned page_shift = 12;
    bool global = false;
    bool writable = true, user = true, nx = false; // combined over the levels walked
    int refs = 0;                                  // shadow entries read
    int fault_level = 0;                           // level of the non-present entry when !ok
    // Entry read at each level (index 1..5), for the page-walk caches.
    std::array<uint64_t, 6> entry{};
};

// What handling a guest page-table write amounted to.
enum class PtWriteOutcome {
    NotShadowed, // not a frame this MMU protects: no exit
    Unsynced,    // no exit: the frame is unsync, writes go straight through
    WentUnsync,  // exit: the hypervisor made the leaf table unsync, no emulation
    Emulated,    // exit: write emulated, shadow entries updated (or the table flooded away)
};

class ShadowMmu {
public:
    // `levels`: the guest's paging levels (5 with CR4.LA57); the shadow tables have as many.
    ShadowMmu(GuestMemory& memory, const P2m& p2m, const ShadowOptions& options,
              uint64_t initial_cr3, int levels = 4);
    int levels() const { return levels_; }

    // Host-physical address of the current shadow root (rebuilt if it was zapped).
    HostPhys root_table();
    // Hardware walk for `va` from the table at `table` (a level-`level` table).
    ShadowWalk walk(GuestVirt va, int level, HostPhys table);
    ShadowWalk walk(GuestVirt va) { return walk(va, levels_, root_table()); }

    // The hypervisor's half of a hidden fault (ShadowBackend::handle_hidden_fault): fill the
    // shadow entries for `va` from the guest tables. False if the guest tables do not map `va`
    // (then nothing is filled).
    bool fix_hidden_fault(GuestVirt va);
    // A guest #PF (reflected): the hypervisor walks the guest tables to classify it.
    void guest_fault(GuestVirt va);
    // Guest wrote `size` bytes at `pa` (already applied to guest memory).
    PtWriteOutcome pt_write(GuestPhys pa, uint8_t size);
    // Guest INVLPG: resync an unsync leaf table mapping `va`.
    void invlpg(GuestVirt va);
    // Guest CR3 write. `flush` false for a PCID no-flush write (unsync tables stay unsync).
    void cr3_write(uint64_t new_cr3, bool flush);

    // True when shadow entries changed since the last call: TLB and PWCs must be flushed.
    bool take_flush() {
        bool f = tables_.take_flush();
        if (f) ++stats_.tlb_flush;
        return f;
    }

    // The guest's own translation of `va` under the current guest root (reference walk);
    // `reads` receives the number of guest entries read.
    bool guest_translate(GuestVirt va, GuestPhys& pa, int* reads = nullptr) const;

    const ShadowStats& stats() const { return stats_; }
    const ShadowOptions& options() const { return options_; }
    ShadowTables& tables() { return tables_; }
    const ShadowTables& tables() const { return tables_; }
    const RootRef& current_root() const { return root_; }
    const RootCache& root_cache() const { return cache_; }

    // Several vCPUs (docs/ARCHITECTURE.md "Several vCPUs"): the shadow pages are the VM's, shared
    // by every vCPU; the current root and the cache of previous roots are each vCPU's (KVM's
    // vcpu->arch.mmu->root and prev_roots). A started vCPU shares its starter's root (same guest
    // CR3: KVM finds the same root page) with an empty cache; a switch swaps the running roots.
    void start_vcpu(unsigned index);
    void switch_vcpu(unsigned index);

private:
    // Resyncs the unsync pages reachable from this vCPU's current and previous roots.
    void sync_roots();
    // Resyncs the unsync pages at or below any of `tops`.
    void sync_under(const std::vector<uint32_t>& tops);
    bool under_roots(uint32_t slot, const std::vector<uint32_t>& roots) const;
    // Whether a parked vCPU uses `slot` as its current or a cached root (KVM's root_count).
    bool root_of_parked_vcpu(uint32_t slot);
    void make_pages_available();
    void install_large(uint32_t slot, unsigned index, int level, GuestVirt va, uint64_t gpte);
    void update_entry(uint32_t slot, unsigned index);

    GuestMemory& memory_;
    const P2m& p2m_;
    int levels_;
    ShadowOptions options_;
    ShadowStats stats_;
    ShadowTables tables_;
    RootRef root_;
    RootCache cache_;
    struct VcpuRoots {
        RootRef root;
        RootCache cache;
    };
    ParkedVcpus<VcpuRoots> parked_;
};

// Host address where the shadow page pool starts: above the VM's p2m range, 1G aligned.
HostPhys shadow_pool_base(const P2m& p2m, const GuestMemory& memory);

} // namespace vmmu::shadow
