#include "engine/shadow/shadow_backend.h"

#include "engine/core/paging.h"
#include "engine/mmu/cost.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <array>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace vmmu::shadow {
namespace {

using namespace vmmu::x86;

const BackendEnv& checked(const BackendEnv& env) {
    if (!env.memory || !env.p2m || !env.profile)
        throw std::invalid_argument("shadow backend needs memory, p2m and profile");
    return env;
}

// Instructions that exit under VMX with KVM's shadow-paging controls: the unconditional ones,
// MSR accesses, INVPCID, writes to CR0 (PG and WP are host-owned) and reads of CR3 (the guest
// must see its own CR3, not the shadow root: CR3-store exiting). `text` is "mnemonic operands".
bool exits_under_shadow(std::string_view text) {
    std::string_view mnemonic = text.substr(0, text.find(' '));
    std::string_view operands =
        mnemonic.size() < text.size() ? text.substr(mnemonic.size() + 1) : std::string_view{};
    constexpr std::array<std::string_view, 8> kExiting = {"cpuid", "rdmsr",  "wrmsr",  "wbinvd",
                                                          "invd",  "xsetbv", "getsec", "invpcid"};
    if (std::find(kExiting.begin(), kExiting.end(), mnemonic) != kExiting.end()) return true;
    if (mnemonic != "mov") return false;
    bool to_cr0 = operands.substr(0, 3) == "cr0";
    bool from_cr3 = operands.size() >= 3 && operands.substr(operands.size() - 3) == "cr3";
    return to_cr0 || from_cr3;
}

} // namespace

ShadowBackend::ShadowBackend(const BackendEnv& env)
    : env_(checked(env)), p2m_(env.p2m), profile_(*env.profile), oracle_(env.oracle),
      pwc_on_(env.pwc), vpid_(profile_.vpid ? 1 : 0), cpu_(env.initial_cr3, env.initial_cr4),
      hypervisor_(env.hypervisor), tlb_(profile_.tlb, &counters_.tlb),
      pwc_(env.pwc ? profile_.pwc : PwcConfig{}, &counters_.walks),
      mmu_(*env.memory, *env.p2m,
           ShadowOptions::parse(env.options, env.hypervisor == Hypervisor::HyperV
                                                 ? ShadowOptions::hyperv_vtlb()
                                                 : ShadowOptions{}),
           env.initial_cr3, x86::paging_levels(env.initial_cr4)) {
    pwc_on_ = pwc_.enabled();
    tlb_.set_context(cpu_.pcid(), vpid_);
    exit_trace_ = env.exit_trace;
    if (env.dedup) mmu_.tables().enable_rmap();
    caches_ = backend_caches(env.caches, profile_.caches, env.price_data, &counters_.caches);
}

void ShadowBackend::on_host_remap(GuestPhys frame, HostRemap what) {
    // KVM's mmu notifier: the host changed the frame behind a gfn; every spte of it follows.
    // A break keeps the sptes write-protected: the breaking store is about to walk them and
    // takes its own hidden fault there (handle_hidden_fault), one exit whether its spte was
    // present (write-protected) or not; the hypervisor fixes only the faulting spte, so another
    // gVA of the frame pays a fault of its own when it is written. A divergence found by the
    // host comes from A/D bits, which under shadow paging the hypervisor itself writes inside
    // exits it already took: its sptes get their write permission back without an exit.
    bool restore_write = what != HostRemap::BrokenByWrite;
    dedup_sptes_ += mmu_.tables().host_remap(frame, restore_write);
    if (what == HostRemap::Merged) {
        ++dedup_merged_;
    } else {
        ++dedup_breaks_;
        if (what == HostRemap::BrokenByWrite) {
            break_pending_ = true;
            exits_at_break_ = counters_.exits.total();
        }
    }
    apply_mmu_flush();
}

void ShadowBackend::end_break() {
    // The breaking store has been translated: every exit since the break is what it cost.
    break_pending_ = false;
    dedup_break_exits_ += counters_.exits.total() - exits_at_break_;
}

ShadowWalk ShadowBackend::hardware_walk(GuestVirt va) {
    HostPhys table = mmu_.root_table();
    int start = mmu_.levels();
    // Permissions accumulated above the first level read, kept as a cached entry's flags: W and
    // U in their PTE positions, NX as bit 3.
    constexpr uint16_t kPermNx = 8;
    uint16_t perms = kPteW | kPteU;
    if (pwc_on_) {
        ShadowPwc::Probe probe = pwc_.lookup(va, cpu_.pcid());
        if (probe.hit()) {
            start = probe.level;
            table = probe.table;
            perms = probe.flags;
        }
    }
    ShadowWalk w = mmu_.walk(va, start, table);
    if (caches_.enabled()) walk_through_caches(va, start, table, w);
    w.writable = w.writable && (perms & kPteW);
    w.user = w.user && (perms & kPteU);
    w.nx = w.nx || (perms & kPermNx);
    if (pwc_on_) {
        // Cache every present non-leaf entry the walk read, as the hardware does.
        for (int l = start; l >= 2; --l) {
            uint64_t e = w.entry[l];
            if (!(e & kPteP) || (e & kPtePs)) break;
            perms &= (e & (kPteW | kPteU)) | kPermNx;
            if (e & kPteNx) perms |= kPermNx;
            pwc_.fill(va, l, HostPhys(e & kPteAddrMask), cpu_.pcid(), perms);
        }
    }
    WalkCounters& c = counters_.walks;
    ++c.walks;
    c.refs += static_cast<uint64_t>(w.refs);
    c.shadow_refs += static_cast<uint64_t>(w.refs);
    c.max_refs_per_walk = std::max<uint64_t>(c.max_refs_per_walk, static_cast<uint64_t>(w.refs));
    return w;
}

void ShadowBackend::walk_through_caches(GuestVirt va, int start, HostPhys table,
                                        const ShadowWalk& w) {
    // The entries the walk read, in order: each table's address comes from the entry above.
    for (int l = start; l > start - w.refs; --l) {
        caches_.walk(table + 8ull * table_index(va, l), WalkDimension::Shadow);
        table = HostPhys(w.entry[l] & kPteAddrMask);
    }
}

void ShadowBackend::handle_tlb_miss(GuestVirt va, GuestPhys pa, bool fetch, bool write) {
    ShadowWalk w = hardware_walk(va);
    // A write through a read-only shadow entry whose guest entry is now writable (an upgrade
    // the shadow has not seen, e.g. in an unsync table) faults to the hypervisor as well.
    bool protection = w.ok && write && !w.writable;
    if (!w.ok || protection) {
        // A leaf read-only because its frame is (or was) shared: copy-on-write's fault.
        bool host_wp =
            protection && w.page_shift == kPageShift4K && (w.entry[1] & ShadowTables::kSpteHostWp);
        if (!handle_hidden_fault({va, pa, write, protection, host_wp})) return;
        // VM entry retries the access; its walk now finds the filled entries.
        w = hardware_walk(va);
        if (!w.ok)
            throw std::logic_error(
                fmt::format("shadow: gVA {:#x} still unmapped after fill", va.value()));
    }
    if (oracle_) check(va, pa, w.hpa, write);
    Translation t;
    t.frame = w.hpa.page_base(w.page_shift);
    t.page_shift = static_cast<uint8_t>(w.page_shift);
    t.writable = w.writable;
    t.user = w.user;
    t.nx = w.nx;
    t.global = w.global && cpu_.pge();
    tlb_.fill(va, t, fetch);
}

bool ShadowBackend::handle_hidden_fault(const HiddenFault& fault) {
    vm_exit(ExitReason::PfHidden);
    if (fault.protection) ++write_protect_faults_;
    if (fault.host_wp) ++dedup_wp_faults_;
    if (!mmu_.fix_hidden_fault(fault.va)) {
        if (oracle_)
            throw OracleMismatch(
                fmt::format("shadow: gVA {:#x} reached gPA {:#x} but the guest tables at root "
                            "{:#x} do not map it",
                            fault.va.value(), fault.pa.value(), mmu_.current_root().gfn.value()));
        ++unmapped_accesses_;
        return false;
    }
    apply_mmu_flush();
    // The access carries no RIP: an attached trace gets it from the vCPU (run.cpp).
    trace_exit(ExitReason::PfHidden, 0, fault.va.value(),
               break_pending_     ? "break sharing (copy-on-write)"
               : fault.protection ? "fill (write upgrade)"
                                  : "fill");
    return true;
}

void ShadowBackend::vm_exit(ExitReason reason) {
    counters_.exits.count(reason);
    // Any exit but hlt shows the vCPU running in the guest (a hlt exit blocks it).
    halted_ = reason == ExitReason::Hlt;
    // Without VPID every VM entry and exit flushes the TLB (SDM 28.1).
    if (!vpid_) {
        tlb_.flush_all();
        flush_walk_caches();
    }
}

void ShadowBackend::apply_mmu_flush() {
    // The hypervisor changed or dropped present shadow entries (kvm_flush_remote_tlbs).
    if (!mmu_.take_flush()) return;
    tlb_.flush_all();
    flush_walk_caches();
    if (started_vcpus_ > 1) flush_remote();
}

void ShadowBackend::flush_remote() {
    // The shadow pages are shared: any other vCPU may cache a translation that just changed.
    // KVM requests the flush of every vCPU (kvm_make_all_cpus_request) and sends an IPI to
    // those in guest mode (kvm_request_needs_ipi); KVM_REQ_TLB_FLUSH does not wake a halted
    // one. Each vCPU runs on its own physical CPU here, so a parked vCPU that is not halted is
    // in guest mode.
    ++remote_requests_;
    vcpus_.for_each_parked([this](VcpuState& v) {
        if (v.halted) {
            ++remote_deferred_;
        } else {
            ++remote_kicks_;
            counters_.exits.count(ExitReason::RemoteFlush);
            trace_exit(ExitReason::RemoteFlush, 0, 0, "flush TLB (kicked by another vCPU)");
        }
        v.flush_pending = true;
    });
}

void ShadowBackend::on_vcpu_start(unsigned index) {
    // The new vCPU starts with its starter's CR3 and CR4 (so its shadow root) and empty TLBs.
    VcpuState fresh{cpu_, TlbHierarchy(profile_.tlb, &counters_.tlb),
                    ShadowPwc(pwc_on_ ? profile_.pwc : PwcConfig{}, &counters_.walks)};
    fresh.tlb.set_context(cpu_.pcid(), vpid_);
    vcpus_.start(index, std::move(fresh));
    mmu_.start_vcpu(index);
    ++started_vcpus_;
}

void ShadowBackend::on_vcpu_switch(unsigned index) {
    vcpus_.switch_to(index, [this](VcpuState& s) {
        std::swap(cpu_, s.cpu);
        std::swap(tlb_, s.tlb);
        std::swap(pwc_, s.pwc);
        std::swap(halted_, s.halted);
        std::swap(flush_pending_, s.flush_pending);
    });
    mmu_.switch_vcpu(index);
    if (!flush_pending_) return;
    // The remote flush request, served before the vCPU runs again: its TLB and walk caches go.
    flush_pending_ = false;
    uint64_t before = counters_.tlb.flushed_entries;
    tlb_.flush_all();
    flush_walk_caches();
    remote_entries_ += counters_.tlb.flushed_entries - before;
}

void ShadowBackend::on_ipi_send(uint64_t rip, uint16_t port, uint8_t vector, uint32_t dests) {
    // The APIC write exits (an APIC-access exit on xAPIC); the hypervisor delivers the vector
    // to each destination and kicks those running in the guest.
    (void)vector, (void)dests;
    vm_exit(ExitReason::Ipi);
    trace_exit(ExitReason::Ipi, rip, port, "send IPI");
}

void ShadowBackend::on_ipi_receive(uint64_t rip, uint8_t vector) {
    if (halted_) {
        // Woken from hlt: the hlt exit was taken already, the vector is injected at the VM entry
        // that resumes the vCPU.
        halted_ = false;
        ++ipi_receives_woken_;
        return;
    }
    // Running in the guest: the kick is an external-interrupt exit, then the injection.
    vm_exit(ExitReason::Ipi);
    trace_exit(ExitReason::Ipi, rip, vector, "inject IPI");
}

void ShadowBackend::apply_guest_invalidation(Invalidate what) {
    if (what == Invalidate::NonGlobal) {
        tlb_.flush_non_global(cpu_.pcid());
        if (pwc_on_) pwc_.flush_context(cpu_.pcid());
    } else if (what == Invalidate::All) {
        tlb_.flush_all();
        flush_walk_caches();
    }
}

void ShadowBackend::on_cr3_write(uint64_t rip, uint64_t new_cr3) {
    switch_root(rip, new_cr3, ExitReason::Cr3Write);
}

void ShadowBackend::on_hv_switch_as(uint64_t rip, uint64_t new_cr3) {
    // HvSwitchVirtualAddressSpace: the same root lookup as a mov cr3 exit, minus the decode
    // (priced by the hv_switch_as handler constant).
    switch_root(rip, new_cr3, ExitReason::HvSwitchAs);
}

void ShadowBackend::on_hv_flush(uint64_t rip, const HvFlush& f) {
    // The caller's hypercall exits once, whatever it names. A target's part (several vCPUs) is
    // the hypervisor's work on that vCPU's behalf inside the same hypercall: no IPI, no exit on
    // the target, the same VTLB work as the caller's own part.
    if (f.remote) {
        ++hv_remote_flush_vcpus_;
    } else {
        vm_exit(ExitReason::HvFlush);
        if (std::popcount(f.vcpus) > (f.current ? 1 : 0)) ++hv_remote_flushes_;
    }
    if (!f.current) {
        trace_exit(ExitReason::HvFlush, rip, f.vcpus, "flush other processors only");
        return;
    }
    if (f.whole_space) {
        // HvFlushVirtualAddressSpace, non-global mappings: what a CR3 reload asks of the VTLB
        // (unsync tables resynced, the root found again), in one hypercall exit.
        if (!f.remote) ++hv_flush_spaces_;
        Invalidate what = cpu_.write_cr3(f.address_space);
        mmu_.cr3_write(f.address_space, what != Invalidate::None);
        apply_mmu_flush();
        tlb_.set_context(cpu_.pcid(), vpid_);
        apply_guest_invalidation(what);
        if (!f.remote) trace_exit(ExitReason::HvFlush, rip, f.address_space, "flush address space");
        return;
    }
    // HvFlushVirtualAddressList: each listed page as an invlpg would, all in this one exit. The
    // entries priced (hv_flush_entries) are the caller's; a target's are counted apart and not
    // priced (estimate: the per-entry handler cost is measured for the caller's VTLB only).
    if (f.remote) {
        hv_remote_flush_entries_ += f.pages.size();
    } else {
        ++hv_flush_lists_;
        hv_flush_entries_ += f.pages.size();
    }
    for (GuestVirt va : f.pages) invalidate_page(va);
    if (!f.remote) trace_exit(ExitReason::HvFlush, rip, f.ranges, "flush address list");
}

void ShadowBackend::switch_root(uint64_t rip, uint64_t new_cr3, ExitReason reason) {
    vm_exit(reason);
    uint64_t cached = mmu_.stats().root_cache_hits, resynced = mmu_.stats().mmu_resync;
    Invalidate what = cpu_.write_cr3(new_cr3);
    // A flushing CR3 write is a guest TLB flush: unsync tables are resynced (KVM).
    mmu_.cr3_write(new_cr3, what != Invalidate::None);
    apply_mmu_flush();
    tlb_.set_context(cpu_.pcid(), vpid_);
    // The hypervisor loads the new shadow root; the hardware flushes as the guest's own CR3
    // write would (SDM 4.10.4.1).
    apply_guest_invalidation(what);
    bool hit = mmu_.stats().root_cache_hits > cached, resync = mmu_.stats().mmu_resync > resynced;
    trace_exit(reason, rip, new_cr3,
               hit ? (resync ? "switch root (cached), resync" : "switch root (cached)")
                   : (resync ? "switch root (new), resync" : "switch root (new)"));
}

void ShadowBackend::on_cr4_write(uint64_t rip, uint64_t new_cr4) {
    // KVM intercepts CR4 writes under shadow paging: PGE, PAE, PCIDE change the shadow MMU.
    vm_exit(ExitReason::Other);
    trace_exit(ExitReason::Other, rip, new_cr4, "emulate CR4 write");
    ++cr4_writes_;
    Invalidate what = cpu_.write_cr4(new_cr4);
    if (what != Invalidate::None) {
        mmu_.cr3_write(cpu_.cr3(), true);
        apply_mmu_flush();
    }
    tlb_.set_context(cpu_.pcid(), vpid_);
    apply_guest_invalidation(what);
}

void ShadowBackend::on_invlpg(uint64_t rip, GuestVirt va) {
    vm_exit(ExitReason::Invlpg);
    uint64_t resynced = mmu_.stats().mmu_resync;
    invalidate_page(va);
    trace_exit(ExitReason::Invlpg, rip, va.value(),
               mmu_.stats().mmu_resync > resynced ? "resync" : "drop shadow entry");
}

void ShadowBackend::invalidate_page(GuestVirt va) {
    mmu_.invlpg(va);
    apply_mmu_flush();
    // INVLPG drops the page's TLB entries and the PCID's paging-structure caches (SDM 4.10.4.1).
    tlb_.invlpg(va);
    if (pwc_on_) pwc_.flush_context(cpu_.pcid());
}

void ShadowBackend::on_pt_write(uint64_t rip, GuestPhys pa, uint64_t old_value, uint64_t new_value,
                                uint8_t size) {
    PtWriteOutcome outcome = mmu_.pt_write(pa, size);
    if (outcome == PtWriteOutcome::NotShadowed || outcome == PtWriteOutcome::Unsynced) return;
    vm_exit(ExitReason::PtWrite);
    apply_mmu_flush();
    trace_exit(ExitReason::PtWrite, rip, pa.value(),
               outcome == PtWriteOutcome::WentUnsync ? "unsync" : "emulate write");
}

void ShadowBackend::on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2,
                                   uint32_t error_code) {
    // Shadow paging must intercept every #PF (a hidden fault looks the same to the hardware);
    // the other exceptions go straight to the guest.
    if (vector != x86::kVecPf) return;
    vm_exit(ExitReason::PfGuest);
    mmu_.guest_fault(cr2);
    trace_exit(ExitReason::PfGuest, rip, cr2.value(), "reflect #PF");
    // The #PF also invalidates what would translate cr2 (SDM 4.10.4.1).
    tlb_.invlpg(cr2);
    if (pwc_on_) pwc_.invalidate_address(cr2, cpu_.pcid());
}

void ShadowBackend::on_sensitive(uint64_t rip, std::string_view mnemonic) {
    if (!exits_under_shadow(mnemonic)) return;
    vm_exit(ExitReason::Other);
    trace_exit(ExitReason::Other, rip, 0, "emulate instruction");
}

const BackendCounters& ShadowBackend::counters() const {
    const ShadowStats& s = mmu_.stats();
    auto& d = counters_.details;
    d["pf_fixed"] = s.pf_fixed;
    d["pf_guest"] = s.pf_guest;
    d["pf_emulate"] = s.pf_emulate;
    d["invlpg"] = s.invlpg;
    d["tlb_flush"] = s.tlb_flush;
    d["mmu_pte_write"] = s.mmu_pte_write;
    d["mmu_flooded"] = s.mmu_flooded;
    d["mmu_unsync"] = s.mmu_unsync;
    d["mmu_resync"] = s.mmu_resync;
    d["mmu_shadow_zapped"] = s.mmu_shadow_zapped;
    d["mmu_cache_miss"] = s.mmu_cache_miss;
    d["budget_zapped"] = s.budget_zapped;
    d["root_cache_hits"] = s.root_cache_hits;
    d["root_cache_misses"] = s.root_cache_misses;
    d["root_reloads"] = s.root_reloads;
    d["shadow_pages"] = s.shadow_pages_peak;
    d["hv_guest_pte_reads"] = s.hv_guest_pte_reads;
    d["large_mappings"] = s.large_mappings;
    d["large_splits"] = s.large_splits;
    d["large_zapped"] = s.large_zapped;
    d["perm_rewalks"] = perm_rewalks_;
    d["write_protect_faults"] = write_protect_faults_;
    d["cr4_write"] = cr4_writes_;
    report_nonzero(d, "world_switches", world_switches_);
    if (started_vcpus_ > 1) {
        d["remote_flush_requests"] = remote_requests_;
        d["remote_flush_kicks"] = remote_kicks_;
        d["remote_flush_deferred"] = remote_deferred_;
        d["remote_flush_entries"] = remote_entries_;
        d["ipi_receives_woken"] = ipi_receives_woken_;
    }
    report_nonzero(d, "unmapped_accesses", unmapped_accesses_);
    if (dedup_merged_ || dedup_breaks_) {
        d["dedup_merged"] = dedup_merged_;
        d["dedup_breaks"] = dedup_breaks_;
        d["dedup_sptes_changed"] = dedup_sptes_;
        d["dedup_break_exits"] = dedup_break_exits_;
        d["dedup_wp_faults"] = dedup_wp_faults_;
    }
    // The short names the run report lists under "shadow" (Output).
    d["unsync"] = s.mmu_unsync;
    d["resync"] = s.mmu_resync;
    d["flooded"] = s.mmu_flooded;
    d["zapped"] = s.mmu_shadow_zapped;
    // Memory references made by exit handlers, priced by the cost model (cost.h).
    d[std::string(kDetailHvRefs)] = s.hv_guest_pte_reads;
    if (hypervisor_ == Hypervisor::HyperV) {
        d["hv_flush_spaces"] = hv_flush_spaces_;
        d["hv_flush_lists"] = hv_flush_lists_;
        d[std::string(kDetailHvFlushEntries)] = hv_flush_entries_;
        if (started_vcpus_ > 1) {
            d["hv_remote_flushes"] = hv_remote_flushes_;
            d["hv_remote_flush_vcpus"] = hv_remote_flush_vcpus_;
            d["hv_remote_flush_entries"] = hv_remote_flush_entries_;
        }
        fill_hyperv_counters();
    }
    return counters_;
}

// Hyper-V's own performance counters for its VTLB ("Hyper-V Hypervisor Virtual Processor" and
// "Hyper-V Hypervisor Partition" counter sets), as counts over the run rather than per second.
// Each maps the vmmu event that matches its description.
void ShadowBackend::fill_hyperv_counters() const {
    const ShadowStats& s = mmu_.stats();
    const ExitCounters& e = counters_.exits;
    auto& h = counters_.hyperv;
    h["Address Space Switches"] = e[ExitReason::HvSwitchAs] + e[ExitReason::Cr3Write];
    h["Address Space Flushes"] = hv_flush_spaces_;
    h["Virtual TLB Flush Entires"] = hv_flush_entries_; // sic: Hyper-V's own spelling
    h["Page Table Write Intercepts"] = e[ExitReason::PtWrite];
    h["Reflected Guest Page Faults"] = e[ExitReason::PfGuest];
    h["Page Table Validations"] = s.mmu_resync;
    h["Page Table Allocations"] = s.mmu_cache_miss;
    h["Page Table Evictions"] = s.budget_zapped;
    h["Small Page TLB Fills"] = s.pf_fixed;
    h["Address Space Evictions"] = s.root_evictions;
    // Partition: what the VTLB holds at the end of the run.
    h["Address Spaces"] = mmu_.root_cache().previous().size() + 1;
    h["Virtual TLB Pages"] = mmu_.tables().live_pages();
}

CycleBreakdown ShadowBackend::cycles(uint64_t guest_instructions) const {
    return compute_cycles(counters(), profile_, guest_instructions);
}

Walk1d ShadowBackend::walk_1d(GuestVirt va) {
    Walk1d out;
    ShadowWalk w = mmu_.walk(va);
    if (!w.ok && mmu_.fix_hidden_fault(va)) {
        out.filled = true; // what the hidden-fault exit would have done
        w = mmu_.walk(va);
    }
    HostPhys table = mmu_.root_table();
    for (int l = mmu_.levels(); l > mmu_.levels() - w.refs; --l) {
        HostPhys entry = table + 8ull * x86::table_index(va, l);
        // The demo's read goes through the caches as a walk's would; the counters stay as they
        // were (it is not a walk).
        CacheCounters kept = counters_.caches;
        CacheLevel served =
            caches_.enabled() ? caches_.walk(entry, WalkDimension::Shadow) : CacheLevel::Count;
        counters_.caches = kept;
        out.refs.push_back({l, entry.value(), w.entry[l], served});
        table = HostPhys(w.entry[l] & x86::kPteAddrMask);
    }
    out.ok = w.ok;
    out.hpa = w.hpa;
    return out;
}

namespace {
const bool registered = register_backend(
    "shadow", [](const BackendEnv& env) { return std::make_unique<ShadowBackend>(env); },
    ShadowOptions::describe());
} // namespace

} // namespace vmmu::shadow
