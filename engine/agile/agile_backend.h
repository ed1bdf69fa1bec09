// Agile paging (Gandhi, Hill, Swift, ISCA 2016): a TLB miss walks the hypervisor's shadow pages
// (gVA -> hPA, one reference per level) from the root down to the first guest page-table page in
// nested mode, then walks the rest two-dimensionally (guest tables × EPT, engine/mmu/walker2d.h)
// with the same nested TLB and page-walk caches as slat. Everything starts shadowed; a guest
// page-table page written more than `nested_threshold` times moves, with the tables below it,
// to nested mode, and every `revert_ticks` timer ticks a nested subtree none of whose pages was
// written moves back. VM exits: writes to still-shadowed guest tables (emulated), hidden faults
// filling shadow entries, guest #PFs whose walk ends in the shadowed part, CR3 writes to a
// shadowed root, EPT violations of the nested part, and what slat also takes.
//
// With the data caches modelled (`--caches on`), every data access goes through this backend's
// own cache hierarchy at its host-physical line, every reference to a shadow page as dimension
// shadow and the 2D part's references through the walker (guest and nested), in the order the
// hardware makes them; page-walk-cache and nested-TLB hits do not reach the caches.
#pragma once

#include "engine/agile/agile_tables.h"
#include "engine/mmu/cache.h"
#include "engine/mmu/ept.h"
#include "engine/mmu/guest_cpu.h"
#include "engine/mmu/inspect.h"
#include "engine/mmu/per_vcpu.h"
#include "engine/mmu/pwc.h"
#include "engine/mmu/registry.h"
#include "engine/mmu/slat_vcpus.h"
#include "engine/mmu/tlb.h"
#include "engine/mmu/walker2d.h"

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vmmu::agile {

// The policy (`--agile-opt KEY=VALUE`, range-checked by the registry).
struct AgileOptions {
    uint64_t nested_threshold = 2;
    uint64_t revert_ticks = 10;
    static AgileOptions parse(const std::map<std::string, std::string>& options);
    static std::vector<SchemeOption> describe();
};

// Agile's own counters, reported under "details".
struct AgileCounters {
    uint64_t to_nested = 0;          // subtrees moved from shadow to nested mode
    uint64_t to_shadow = 0;          // subtrees moved back to shadow mode
    uint64_t revert_checks = 0;      // periodic attempts to move nested subtrees back
    uint64_t shadow_pages = 0;       // guest page-table pages the hypervisor ever shadowed
    uint64_t shadow_refs = 0;        // walk references to shadow pages (the 1D part)
    uint64_t nested_part_refs = 0;   // walk references in the 2D part (guest entries + EPT)
    uint64_t walks_shadow_only = 0;  // walks that ended in the shadowed part
    uint64_t walks_switched = 0;     // walks that switched to nested mode on the way down
    uint64_t nested_pt_writes = 0;   // writes to nested-mode guest tables: no exit
    uint64_t hv_guest_pte_reads = 0; // guest entries the hypervisor read (fills, emulation)
    uint64_t ept_table_pages = 0;
    uint64_t perm_rewalks = 0, stale_walks = 0, world_switches = 0;
    void report(Details& d) const;
};

class AgileBackend final : public Backend, public Inspector {
public:
    explicit AgileBackend(const BackendEnv& env);

    std::string name() const override { return "agile"; }
    void on_access(const DataAccess& a) override;
    void on_fetch(const Fetch& f) override;
    void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) override;
    void on_cr3_write(uint64_t rip, uint64_t new_cr3) override;
    void on_cr4_write(uint64_t rip, uint64_t new_cr4) override;
    void on_invlpg(uint64_t rip, GuestVirt va) override;
    void on_pt_write(uint64_t rip, GuestPhys gpa, uint64_t old_value, uint64_t new_value,
                     uint8_t size) override;
    void on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2, uint32_t error) override;
    void on_timer(uint64_t rip) override;
    void on_syscall(uint64_t) override {}
    void on_hlt(uint64_t) override { vm_exit(ExitReason::Hlt); }
    void on_io(uint64_t, uint16_t port, bool) override { vm_exit(ExitReason::Io, port); }
    // Several vCPUs: each has its own CR3/CR4, TLBs and walk caches (shadow, guest, nested) and
    // nested TLB; the shadow pages and the EPT are the VM's. IPIs and EOIs exit as under slat.
    bool models_vcpus() const override { return true; }
    void on_vcpu_start(unsigned index) override;
    void on_vcpu_switch(unsigned index) override;
    void on_ipi_send(uint64_t rip, uint16_t port, uint8_t vector, uint32_t dests) override;
    void on_eoi(uint64_t rip, uint16_t port) override;
    void on_ipi_receive(uint64_t rip, uint8_t vector) override;
    void on_sensitive(uint64_t rip, std::string_view mnemonic) override;
    void on_world_switch() override {
        own_.world_switches++;
        vm_exit(ExitReason::Other);
    }
    void on_host_remap(GuestPhys frame, HostRemap what) override;

    const BackendCounters& counters() const override;
    CycleBreakdown cycles(uint64_t guest_instructions) const override;

    // Inspection (engine/mmu/inspect.h): the mixed walk, for `vmmu demo walk`.
    Inspector* inspector() override { return this; }
    WalkShape walk_shape() const override { return WalkShape::Mixed; }
    GuestPhys guest_root() const override { return cpu_.root(); }
    int guest_levels() const override { return cpu_.levels(); }
    WalkMixed trace_mixed(GuestVirt va) override;
    unsigned nested_page_shift() const override { return ept_.leaf_shift(); }
    int nested_levels() const override { return ept_.levels(); }

    // Tests: the mode of the guest table page at gpa (nullptr: never shadowed).
    const ShadowPage* page(GuestPhys gpa) { return pages_.find(gpa); }
    const AgileOptions& options() const { return opt_; }

private:
    struct Step {
        bool ok = false;
        Translation t;
    };
    void translate(GuestVirt va, GuestPhys pa, bool fetch, bool write);
    [[gnu::noinline]] void translate_slow(GuestVirt va, GuestPhys pa, bool fetch, bool write,
                                          const Translation* recalled);
    Translation walk(GuestVirt va, GuestPhys functional);
    // One walk; !ok when an exit (hidden fault, EPT violation) was taken and it must be retried.
    Step walk_once(GuestVirt va, GuestPhys functional, uint64_t& refs);
    Translation stale(GuestVirt va, GuestPhys functional, int level);
    void fill(ShadowPage& page, unsigned index, GuestVirt va, GuestPhys functional);
    void move_to_nested(ShadowPage& page);
    void revert_check();
    void vm_exit(ExitReason reason, uint64_t address = 0);
    void apply(Invalidate what);
    // What a flush of the other vCPUs drops: their walk caches always (guest and shadow PWCs);
    // with `ept`, an EPT change: their TLBs, nested TLBs and nested PWCs too.
    enum class Remote : uint8_t { WalkCaches, Ept };
    // The hypervisor changed what the vCPUs share: flushes every other vCPU and counts the
    // request; with `kick`, each other vCPU is kicked out of the guest for it (a `remote_flush`
    // exit).
    void flush_other_vcpus(Remote what, bool kick, uint64_t address);
    void check(GuestVirt va, HostPhys hpa, GuestPhys functional, bool write) const;
    uint32_t guest_context() const { return (uint32_t{vpid_} << 12) | cpu_.pcid(); }

    BackendEnv env_;
    AgileOptions opt_;
    mutable BackendCounters counters_;
    AgileCounters own_;
    GuestCpu cpu_;
    uint16_t vpid_;
    TlbHierarchy tlb_;
    EptTables ept_;
    Walker2d walker_;
    ShadowPwc shadow_pwc_; // the shadowed part's page-walk cache (gVA -> shadow page)
    ShadowPages pages_;
    uint64_t ticks_ = 0;
    // One data-cache hierarchy for every vCPU (estimate, as native and slat).
    CacheHierarchy caches_; // the walker holds a pointer: the backend is never moved
    ApicExits apic_;
    VcpuCounters smp_;
    // The other vCPUs' paging state, TLBs and walk caches (the members above: the running one's).
    struct VcpuState {
        GuestCpu cpu;
        TlbHierarchy tlb;
        Walker2dCaches walk;
        ShadowPwc shadow_pwc;
    };
    ParkedVcpus<VcpuState> vcpus_;
};

} // namespace vmmu::agile
