// Hardware SLAT (Intel EPT): the guest's own CR3 writes, INVLPGs and page faults run without
// the hypervisor; a TLB miss is a 2D walk; the hypervisor is entered only for EPT violations
// (lazy EPT construction), external interrupts, port I/O, HLT and unconditional exits.
#pragma once

#include "engine/mmu/registry.h"
#include "engine/mmu/cache.h"
#include "engine/mmu/guest_cpu.h"
#include "engine/mmu/inspect.h"
#include "engine/mmu/per_vcpu.h"
#include "engine/mmu/slat_vcpus.h"
#include "engine/mmu/tlb.h"
#include "engine/mmu/ept.h"
#include "engine/mmu/walker2d.h"

#include <vector>

namespace vmmu {

// Slat's own counters, reported by name under "details" (the EPT's size always, the others once
// they count something).
struct SlatCounters {
    uint64_t ept_table_pages = 0; // EPT table pages built (lazily, by EPT violations)
    uint64_t perm_rewalks = 0;    // a read-only TLB entry met a write: walked again
    uint64_t stale_walks = 0;     // without the oracle, a walk that failed where the access did not
    uint64_t world_switches = 0;
    uint64_t dedup_merged = 0, dedup_breaks = 0, dedup_invept = 0; // host remaps of mapped frames
    void report(Details& d) const {
        d["ept_table_pages"] = ept_table_pages;
        report_nonzero(d, "perm_rewalks", perm_rewalks);
        report_nonzero(d, "stale_walks", stale_walks);
        report_nonzero(d, "world_switches", world_switches);
        report_nonzero(d, "dedup_merged", dedup_merged);
        report_nonzero(d, "dedup_breaks", dedup_breaks);
        report_nonzero(d, "dedup_invept", dedup_invept);
    }
};

class SlatBackend final : public Backend, public Inspector {
public:
    explicit SlatBackend(const BackendEnv& env);

    std::string name() const override { return "slat"; }
    void on_access(const DataAccess& a) override;
    void on_fetch(const Fetch& f) override;
    void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) override;
    void on_cr3_write(uint64_t rip, uint64_t new_cr3) override;
    void on_cr4_write(uint64_t rip, uint64_t new_cr4) override;
    void on_invlpg(uint64_t rip, GuestVirt va) override;
    void on_pt_write(uint64_t, GuestPhys, uint64_t, uint64_t, uint8_t) override {}
    void on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2, uint32_t error) override;
    void on_timer(uint64_t) override { vm_exit(ExitReason::Timer); }
    void on_syscall(uint64_t) override {}
    void on_hlt(uint64_t) override { vm_exit(ExitReason::Hlt); }
    void on_io(uint64_t, uint16_t port, bool) override { vm_exit(ExitReason::Io, port); }
    // Several vCPUs: each has its own CR3/CR4, TLBs, walk caches and nested TLB; the EPT is the
    // VM's. IPIs and EOIs exit unless the profile has APIC virtualization (ApicExits).
    bool models_vcpus() const override { return true; }
    void on_vcpu_start(unsigned index) override;
    void on_vcpu_switch(unsigned index) override;
    void on_ipi_send(uint64_t rip, uint16_t port, uint8_t vector, uint32_t dests) override;
    void on_eoi(uint64_t rip, uint16_t port) override;
    void on_ipi_receive(uint64_t rip, uint8_t vector) override;
    void on_sensitive(uint64_t rip, std::string_view mnemonic) override;
    // Another VM's quantum: an exit to the host scheduler; without VPID the TLB is flushed.
    void on_world_switch() override {
        own_.world_switches++;
        vm_exit(ExitReason::Other);
    }

    void on_host_remap(GuestPhys frame, HostRemap what) override;

    const BackendCounters& counters() const override;
    CycleBreakdown cycles(uint64_t guest_instructions) const override;

    // Inspection (engine/mmu/inspect.h): the 2D walk, traced by traced_walk below.
    Inspector* inspector() override { return this; }
    WalkShape walk_shape() const override { return WalkShape::TwoDimensional; }
    GuestPhys guest_root() const override { return cpu_.root(); }
    int guest_levels() const override { return cpu_.levels(); }
    Walk2d trace_2d(GuestVirt va, WalkCaches caches) override;
    unsigned nested_page_shift() const override { return ept_.leaf_shift(); }
    int nested_levels() const override { return ept_.levels(); }

    // Demo and test hooks.
    const EptTables& ept() const { return ept_; }
    void set_trace(std::vector<WalkRef>* trace) { trace_ = trace; }
    // Points the EPT leaf covering gpa at `frame`, then invalidates as INVEPT would, on every
    // vCPU.
    void corrupt_ept_leaf(GuestPhys gpa, HostPhys frame);
    // One walk of va traced step by step, either with no walk caches at all (the classic
    // 24-reference walk) or through this backend's nested TLB and PWCs, emptied first if flush.
    // Missing EPT entries are installed as an EPT violation would, without counting an exit;
    // only the final walk is traced.
    Walk2dResult traced_walk(GuestVirt va, bool caches, bool flush, std::vector<WalkRef>& trace);

private:
    void translate(GuestVirt va, GuestPhys pa, bool fetch, bool write);
    [[gnu::noinline]] void translate_slow(GuestVirt va, GuestPhys pa, bool fetch, bool write,
                                          const Translation* recalled);
    // TLB miss: the 2D walk, repeated after each EPT violation it raises.
    Translation walk(GuestVirt va, GuestPhys functional);
    // The exit for a gPA the EPT does not map: the hypervisor installs the leaf (lazily built EPT).
    void handle_ept_violation(GuestPhys gpa);
    // `address` is what the exit trace shows: reason-specific, so of no one address space.
    void vm_exit(ExitReason reason, uint64_t address = 0);
    void apply(Invalidate what);
    // The hypervisor changed or removed a present EPT entry: INVEPT on every vCPU (KVM's remote
    // TLB flush). With `kick`, the running vCPU is in the hypervisor and each other vCPU is
    // kicked out of the guest to flush (a `remote_flush` exit each); without, no vCPU is in the
    // guest (the host's deduplication scanner runs between the VM's slices) and each flushes
    // at its next entry.
    void invept_every_vcpu(bool kick, uint64_t address);
    void check(GuestVirt va, HostPhys hpa, GuestPhys functional, bool write) const;
    uint16_t vpid() const { return vpid_; }
    uint32_t guest_context() const { return (uint32_t{vpid_} << 12) | cpu_.pcid(); }

    BackendEnv env_;
    mutable BackendCounters counters_; // details filled from own_ when read
    SlatCounters own_;
    GuestCpu cpu_;
    uint16_t vpid_; // 1 with VPID (the host keeps 0), else 0: every exit flushes
    TlbHierarchy tlb_;
    EptTables ept_;
    Walker2d walker_;
    std::vector<WalkRef>* trace_ = nullptr;
    // One data-cache hierarchy for every vCPU (estimate, as native: the private L1D/L2 of each
    // core are not modelled apart).
    CacheHierarchy caches_; // the walker holds a pointer: the backend is never moved
    ApicExits apic_;
    VcpuCounters smp_;
    // The other vCPUs' paging state, TLBs and walk caches (the members above: the running one's).
    struct VcpuState {
        GuestCpu cpu;
        TlbHierarchy tlb;
        Walker2dCaches walk;
    };
    ParkedVcpus<VcpuState> vcpus_;
};

} // namespace vmmu
