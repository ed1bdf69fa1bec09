#include "engine/shadow/shadow_backend.h"

#include "engine/core/paging.h"
#include "engine/mmu/cost.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string_view>

namespace vmmu::shadow {
namespace {

using namespace vmmu::x86;

const BackendEnv& checked(const BackendEnv& env) {
    if (!env.memory || !env.p2m)
        throw std::invalid_argument("shadow backend needs guest memory and a p2m");
    return env;
}

// Instructions VMX makes exit unconditionally or that KVM intercepts under shadow paging
// (CR0 writes, since paging and write-protect bits must be mirrored in the shadow MMU).
bool exits_under_shadow(std::string_view mnemonic) {
    constexpr std::array<std::string_view, 7> kExiting = {"cpuid", "rdmsr",  "wrmsr", "wbinvd",
                                                          "invd",  "xsetbv", "getsec"};
    if (std::find(kExiting.begin(), kExiting.end(), mnemonic) != kExiting.end()) return true;
    return mnemonic.find("cr0") != std::string_view::npos;
}

} // namespace

ShadowBackend::ShadowBackend(const BackendEnv& env)
    : p2m_(checked(env).p2m), profile_(env.profile ? *env.profile : Profile{}), oracle_(env.oracle),
      pwc_on_(env.pwc), vpid_(profile_.vpid ? 1 : 0), cr3_(env.initial_cr3), cr4_(env.initial_cr4),
      tlb_(profile_.tlb, &counters_.tlb),
      pwc_(env.pwc ? profile_.pwc : PwcConfig{}, &counters_.walks),
      mmu_(*env.memory, *env.p2m, ShadowOptions::parse(env.options), env.initial_cr3) {
    pwc_on_ = pwc_.enabled();
    bool pcide = profile_.pcid && (cr4_ & kCr4Pcide);
    tlb_.set_context(pcide ? cr3_pcid(cr3_) : 0, vpid_);
}

ShadowWalk ShadowBackend::hardware_walk(uint64_t va) {
    HostPhys root = mmu_.root_table();
    ShadowWalk w;
    int start = 4;
    if (pwc_on_) {
        PwcProbe probe = pwc_.lookup(va, tlb_.pcid());
        if (probe.hit()) start = probe.level;
        w = mmu_.walk(va, start, probe.hit() ? HostPhys(probe.table) : root);
    } else {
        w = mmu_.walk(va, 4, root);
    }
    if (pwc_on_) {
        // Cache every present non-leaf entry this walk read, as the hardware does.
        for (int l = start; l >= 2; --l) {
            uint64_t e = w.entry[l];
            if (!(e & kPteP) || (e & kPtePs)) break;
            pwc_.fill(va, l, e & kPteAddrMask, tlb_.pcid());
        }
    }
    WalkCounters& c = counters_.walks;
    ++c.walks;
    c.refs += static_cast<uint64_t>(w.refs);
    c.shadow_refs += static_cast<uint64_t>(w.refs);
    c.max_refs_per_walk = std::max<uint64_t>(c.max_refs_per_walk, static_cast<uint64_t>(w.refs));
    return w;
}

void ShadowBackend::walk_and_fill(uint64_t va, GuestPhys pa, bool fetch) {
    ShadowWalk w = hardware_walk(va);
    if (!w.ok) {
        // Hidden fault: the guest maps va (the access succeeded) but the shadow does not yet.
        vm_exit(ExitReason::PfHidden);
        if (!mmu_.fix_hidden_fault(va)) {
            if (oracle_)
                throw OracleMismatch(fmt::format(
                    "shadow: gVA {:#x} reached gPA {:#x} but the guest tables at root {:#x} do "
                    "not map it",
                    va, pa.value(), mmu_.current_root().gfn.value()));
            ++counters_.details["unmapped_accesses"];
            return;
        }
        apply_mmu_flush();
        // VM entry retries the access; its walk now finds the filled entries.
        w = hardware_walk(va);
        if (!w.ok)
            throw std::logic_error(fmt::format("shadow: gVA {:#x} still unmapped after fill", va));
    }
    if (oracle_) check(va, pa, w.hpa.value());
    Translation t;
    t.frame = w.hpa.value() & ~((uint64_t{1} << w.page_shift) - 1);
    t.page_shift = static_cast<uint8_t>(w.page_shift);
    t.writable = w.writable;
    t.user = w.user;
    t.nx = w.nx;
    t.global = w.global;
    tlb_.fill(va, t, fetch);
}

void ShadowBackend::mismatch(uint64_t va, GuestPhys pa, uint64_t hpa) const {
    throw OracleMismatch(fmt::format(
        "shadow: gVA {:#x} translated to hPA {:#x}, functional translation is gPA {:#x} -> hPA "
        "{:#x}",
        va, hpa, pa.value(), p2m_->translate(pa).value()));
}

void ShadowBackend::vm_exit(ExitReason reason) {
    counters_.exits.count(reason);
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
}

void ShadowBackend::on_cr3_write(uint64_t rip, uint64_t new_cr3) {
    vm_exit(ExitReason::Cr3Write);
    bool pcide = profile_.pcid && (cr4_ & kCr4Pcide);
    bool keep = pcide && (new_cr3 & kCr3NoFlush);
    mmu_.cr3_write(new_cr3, !keep);
    apply_mmu_flush();
    cr3_ = new_cr3 & ~kCr3NoFlush;
    uint16_t pcid = pcide ? cr3_pcid(cr3_) : 0;
    tlb_.set_context(pcid, vpid_);
    // Loading the new shadow root flushes the PCID's non-global entries unless bit 63 says not
    // to (SDM 4.10.4.1); the walk caches hold entries of the old root, so they go too.
    if (!keep) tlb_.flush_non_global(pcid);
    flush_walk_caches();
}

void ShadowBackend::on_cr4_write(uint64_t rip, uint64_t new_cr4) {
    // KVM intercepts CR4 writes that change paging (PGE, PAE, PCIDE, ...).
    vm_exit(ExitReason::Other);
    ++counters_.details["cr4_write"];
    uint64_t changed = cr4_ ^ new_cr4;
    cr4_ = new_cr4;
    if (changed & (kCr4Pge | kCr4Pcide | kCr4Pae)) {
        // A guest TLB flush (SDM 4.10.4.1): unsync tables are resynced as on a CR3 write.
        mmu_.cr3_write(cr3_, true);
        apply_mmu_flush();
        tlb_.flush_vpid(vpid_);
        flush_walk_caches();
        bool pcide = profile_.pcid && (cr4_ & kCr4Pcide);
        tlb_.set_context(pcide ? cr3_pcid(cr3_) : 0, vpid_);
    }
}

void ShadowBackend::on_invlpg(uint64_t rip, GuestVirt va) {
    vm_exit(ExitReason::Invlpg);
    mmu_.invlpg(va.value());
    apply_mmu_flush();
    // INVLPG drops the page's TLB entries and the PCID's paging-structure caches (SDM 4.10.4.1).
    tlb_.invlpg(va.value());
    flush_walk_caches();
}

void ShadowBackend::on_pt_write(uint64_t rip, GuestPhys pa, uint64_t old_value, uint64_t new_value,
                                uint8_t size) {
    PtWriteOutcome outcome = mmu_.pt_write(pa, size);
    if (outcome == PtWriteOutcome::NotShadowed || outcome == PtWriteOutcome::Unsynced) return;
    vm_exit(ExitReason::PtWrite);
    apply_mmu_flush();
}

void ShadowBackend::on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2,
                                   uint32_t error_code) {
    // Shadow paging must intercept every #PF (a hidden fault looks the same to the hardware);
    // the other exceptions go straight to the guest.
    if (vector != 14) return;
    vm_exit(ExitReason::PfGuest);
    mmu_.guest_fault(cr2.value());
}

void ShadowBackend::on_sensitive(uint64_t rip, std::string_view mnemonic) {
    if (exits_under_shadow(mnemonic)) vm_exit(ExitReason::Other);
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
    // The short names the run report lists under "shadow" (issue 4, Output).
    d["unsync"] = s.mmu_unsync;
    d["resync"] = s.mmu_resync;
    d["flooded"] = s.mmu_flooded;
    d["zapped"] = s.mmu_shadow_zapped;
    // Memory references made by exit handlers, priced by the cost model (cost.h).
    d[std::string(kDetailHvRefs)] = s.hv_guest_pte_reads;
    return counters_;
}

CycleBreakdown ShadowBackend::cycles(uint64_t guest_instructions) const {
    return compute_cycles(counters(), profile_, guest_instructions);
}

namespace {
const bool registered = register_backend(
    "shadow", [](const BackendEnv& env) { return std::make_unique<ShadowBackend>(env); });
} // namespace

} // namespace vmmu::shadow
