// The "shadow" backend: a hypervisor keeping shadow page tables (gVA -> hPA) through VM exits.
//
// The hardware side (TLB hierarchy, page-walk caches, walks of the shadow tables) is modelled
// here; what the hypervisor does on each exit is ShadowMmu's (shadow_mmu.h).
#pragma once

#include "engine/mmu/registry.h"
#include "engine/mmu/cache.h"
#include "engine/mmu/guest_cpu.h"
#include "engine/mmu/inspect.h"
#include "engine/mmu/oracle.h"
#include "engine/mmu/per_vcpu.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/pwc.h"
#include "engine/mmu/tlb.h"
#include "engine/mmu/translate.h"
#include "engine/shadow/shadow_mmu.h"

#include <memory>
#include <string>

namespace vmmu::shadow {

// A hidden shadow fault: the guest's tables allow an access the shadow tables do not. Its facts
// travel together from the walk that found it to the handler (as KVM's struct kvm_page_fault).
struct HiddenFault {
    GuestVirt va;
    GuestPhys pa; // the functional translation: the guest allows the access
    bool write = false;
    bool protection = false; // a write met a present read-only spte (else the spte was missing)
    bool host_wp = false;    // that spte is read-only because the host shares the frame (dedup)
};

class ShadowBackend final : public Backend, public Inspector {
public:
    explicit ShadowBackend(const BackendEnv& env);

    std::string name() const override { return "shadow"; }

    void on_access(const DataAccess& a) override {
        if (caches_.enabled()) {
            HostPhys hpa = p2m_->translate(a.pa);
            caches_.prefetch(hpa);
            translate(a.va, a.pa, false, a.write);
            caches_.data(hpa);
        } else {
            translate(a.va, a.pa, false, a.write);
        }
        if (break_pending_) [[unlikely]]
            end_break();
    }
    void on_fetch(const Fetch& f) override {
        // One lookup per 4K page the block touches (as the native backend does).
        for_each_fetch_page(f,
                            [this](GuestVirt va, GuestPhys pa) { translate(va, pa, true, false); });
    }
    // An execution is lookups only when no sharing break waits for its store (end_break).
    void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) override {
        repeat_loop(
            tlb_, caches_, body, k, oracle_, [this] { return !break_pending_; },
            [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, p, hpa, w); },
            [&](uint64_t pass) { replay_pass(body, pass); },
            [this](GuestPhys pa) { return p2m_->translate(pa); });
    }

    void on_cr3_write(uint64_t rip, uint64_t new_cr3) override;
    void on_cr4_write(uint64_t rip, uint64_t new_cr4) override;
    void on_invlpg(uint64_t rip, GuestVirt va) override;
    void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t old_value, uint64_t new_value,
                     uint8_t size) override;
    void on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2, uint32_t error_code) override;
    void on_timer(uint64_t rip) override {
        halted_ = false; // a tick wakes a halted vCPU
        vm_exit(ExitReason::Timer);
        trace_exit(ExitReason::Timer, rip, 0, "inject timer interrupt");
    }
    void on_syscall(uint64_t rip) override {} // SYSCALL does not exit under VMX
    void on_hlt(uint64_t rip) override {
        vm_exit(ExitReason::Hlt);
        trace_exit(ExitReason::Hlt, rip, 0, "halt vCPU until the next interrupt");
    }
    void on_io(uint64_t rip, uint16_t port, bool write) override {
        vm_exit(ExitReason::Io);
        trace_exit(ExitReason::Io, rip, port, "emulate port I/O");
    }
    void on_sensitive(uint64_t rip, std::string_view mnemonic) override;
    // Several vCPUs (docs/ARCHITECTURE.md "Several vCPUs"): each vCPU has its own CR3/CR4, TLBs,
    // walk caches and shadow roots; the shadow pages are the VM's. IPIs exit: the sender's APIC
    // write, and the injection into a receiver that was running in the guest (one woken from
    // hlt had exited already; the interrupt is injected at the VM entry that resumes it). An EOI
    // is the APIC write it is and keeps the default: an `io` exit (see on_eoi's comment there).
    bool models_vcpus() const override { return true; }
    void on_vcpu_start(unsigned index) override;
    void on_vcpu_switch(unsigned index) override;
    void on_ipi_send(uint64_t rip, uint16_t port, uint8_t vector, uint32_t dests) override;
    void on_ipi_receive(uint64_t rip, uint8_t vector) override;
    // Hyper-V 2008's VTLB: the enlightened guest's hypercalls exit; the hypervisor does what the
    // plain instruction would have asked, without decoding it, and a list in one exit.
    void on_hv_switch_as(uint64_t rip, uint64_t new_cr3) override;
    void on_hv_flush(uint64_t rip, const HvFlush& f) override;
    // Another VM's quantum: an exit to the host scheduler; without VPID the TLB is flushed.
    void on_world_switch() override {
        ++world_switches_;
        vm_exit(ExitReason::Other);
    }

    void on_host_remap(GuestPhys frame, HostRemap what) override;

    const BackendCounters& counters() const override;
    CycleBreakdown cycles(uint64_t guest_instructions) const override;

    ShadowMmu& mmu() { return mmu_; }

    // Inspection (engine/mmu/inspect.h): a 1D walk of the shadow tables.
    Inspector* inspector() override { return this; }
    WalkShape walk_shape() const override { return WalkShape::ShadowTables; }
    GuestPhys guest_root() const override { return mmu_.current_root().gfn; }
    int guest_levels() const override { return mmu_.levels(); }
    Walk1d walk_1d(GuestVirt va) override;

private:
    // Hot path: an L1 hit the TLB's memo knows, checked inline; everything else out of line.
    void translate(GuestVirt va, GuestPhys pa, bool fetch, bool write) {
        translate_fast(
            tlb_, va, pa, fetch, write, oracle_,
            [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, p, hpa, w); },
            [&](const Translation* recalled) { translate_slow(va, pa, fetch, write, recalled); });
    }
    // The TLB lookup (unless recall() counted it), then a walk of the shadow tables on a miss.
    [[gnu::noinline]] void translate_slow(GuestVirt va, GuestPhys pa, bool fetch, bool write,
                                          const Translation* recalled) {
        const Translation* t = recalled ? recalled : tlb_.lookup(va, fetch);
        // A read-only entry cannot serve a write that succeeded: the hardware walks again.
        if (t && write && !t->writable) {
            ++perm_rewalks_;
            t = nullptr;
        }
        if (t) {
            if (oracle_) check(va, pa, t->host(va), write);
            return;
        }
        handle_tlb_miss(va, pa, fetch, write);
    }
    // TLB miss: the hardware walk of the shadow tables; a hidden fault if they lack the access,
    // then the walk again; the fill.
    void handle_tlb_miss(GuestVirt va, GuestPhys pa, bool fetch, bool write);
    // The pf_hidden exit: the hypervisor fills the shadow entries from the guest tables. False
    // when the guest tables do not map the access (a stale model, counted without the oracle).
    bool handle_hidden_fault(const HiddenFault& fault);
    void end_break();
    ShadowWalk hardware_walk(GuestVirt va);
    void check(GuestVirt va, GuestPhys pa, HostPhys hpa, bool write) const {
        check_oracle("shadow", env_, va, pa, hpa, p2m_->translate(pa), p2m_->shared(pa), write);
    }
    // A VM exit: counted, and without VPID the entry/exit flushes the TLB and walk caches.
    void vm_exit(ExitReason reason);
    // Tells an attached trace (vmmu demo exits) what the hypervisor did on an exit.
    void trace_exit(ExitReason r, uint64_t rip, uint64_t address, std::string_view action) {
        if (exit_trace_) exit_trace_({r, rip, address, action});
    }
    // Applies the flush the hypervisor owes after changing shadow entries: on this vCPU's TLB
    // and walk caches, and on the other vCPUs' (flush_remote).
    void apply_mmu_flush();
    // KVM's kvm_flush_remote_tlbs: a KVM_REQ_TLB_FLUSH request to every other vCPU; those in
    // guest mode (started, not halted) are kicked out of it (a `remote_flush` exit each), the
    // halted ones flush at their next VM entry. Either way a vCPU's TLB and walk caches are
    // flushed before it runs again (on_vcpu_switch).
    void flush_remote();
    void flush_walk_caches() {
        if (pwc_on_) pwc_.flush_all();
    }
    // What a guest CR3/CR4 write invalidates in the TLB and walk caches (SDM 4.10.4.1).
    void apply_guest_invalidation(Invalidate what);
    // A CR3 load the guest asked for, by `mov cr3` or by hypercall: find or build the shadow root
    // (resyncing unsync tables when it flushes) and flush as the CR3 write would.
    void switch_root(uint64_t rip, uint64_t new_cr3, ExitReason reason);
    // Invalidation of one page, by invlpg or as one entry of a flush list (no exit of its own).
    void invalidate_page(GuestVirt va);
    // Hyper-V's performance-counter names for what the VTLB did (--hypervisor hyperv).
    void fill_hyperv_counters() const;
    // Sends the shadow entries a hardware walk read through the cache hierarchy.
    void walk_through_caches(GuestVirt va, int start, HostPhys table, const ShadowWalk& w);

    BackendEnv env_; // for the isolation check: the host and this VM
    const P2m* p2m_;
    Profile profile_;
    bool oracle_;
    bool pwc_on_;
    uint16_t vpid_;
    GuestCpu cpu_;
    uint64_t perm_rewalks_ = 0;
    uint64_t write_protect_faults_ = 0;
    uint64_t cr4_writes_ = 0;
    Hypervisor hypervisor_;
    uint64_t hv_flush_spaces_ = 0, hv_flush_lists_ = 0, hv_flush_entries_ = 0;
    // Several vCPUs: flush hypercalls that reached other vCPUs, the vCPUs they flushed, and the
    // list entries flushed on those.
    uint64_t hv_remote_flushes_ = 0, hv_remote_flush_vcpus_ = 0, hv_remote_flush_entries_ = 0;
    ExitTrace exit_trace_; // env.exit_trace: demos only
    uint64_t world_switches_ = 0;
    uint64_t unmapped_accesses_ = 0; // without the oracle: an access the guest tables do not map
    uint64_t dedup_merged_ = 0, dedup_breaks_ = 0, dedup_sptes_ = 0;
    // Deduplication: exits the breaking stores took (between on_host_remap and the store's
    // own translation), and write faults on sptes read-only because of sharing.
    uint64_t dedup_break_exits_ = 0, dedup_wp_faults_ = 0;
    bool break_pending_ = false;
    uint64_t exits_at_break_ = 0;
    mutable BackendCounters counters_;
    TlbHierarchy tlb_;
    ShadowPwc pwc_;
    ShadowMmu mmu_;
    CacheHierarchy caches_;
    // Several vCPUs: the running vCPU's state beyond cpu_, tlb_ and pwc_ ...
    bool halted_ = false;        // its last exit was hlt and nothing has woken it since
    bool flush_pending_ = false; // a remote flush request it has not yet served
    // ... and the other vCPUs' (the members above: the running one's).
    struct VcpuState {
        GuestCpu cpu;
        TlbHierarchy tlb;
        ShadowPwc pwc;
        bool halted = false;
        bool flush_pending = false;
    };
    ParkedVcpus<VcpuState> vcpus_;
    unsigned started_vcpus_ = 1;
    // Remote flushes: requests (kvm_flush_remote_tlbs calls with other vCPUs started), vCPUs
    // kicked, requests left pending on halted vCPUs, TLB entries the served flushes dropped.
    uint64_t remote_requests_ = 0, remote_kicks_ = 0, remote_deferred_ = 0, remote_entries_ = 0;
    uint64_t ipi_receives_woken_ = 0; // IPIs that woke a halted vCPU (no exit of their own)
};

} // namespace vmmu::shadow
