#include "engine/slat/slat_backend.h"

#include "engine/core/paging.h"
#include "engine/core/x86.h"
#include "engine/mmu/cost.h"
#include "engine/mmu/oracle.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/translate.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace vmmu {
namespace {

const BackendEnv& checked(const BackendEnv& env) {
    if (!env.memory || !env.p2m || !env.profile)
        throw std::invalid_argument("slat backend needs memory, p2m and profile");
    return env;
}

// Caches the profile's hardware has, minus those switched off for this run.
Walker2dConfig walker_config(const BackendEnv& env) {
    const Profile& p = *env.profile;
    Walker2dConfig c;
    if (env.pwc) c.guest_pwc = p.pwc;
    if (env.pwc && p.nested_pwc) c.nested_pwc = p.pwc_nested;
    if (env.ntlb && p.ntlb) c.ntlb = p.ntlb_geometry;
    c.guest_levels = x86::paging_levels(env.initial_cr4);
    return c;
}

// Instructions that exit unconditionally in VMX non-root operation (SDM vol. 3, 25.1.2).
constexpr std::array<std::string_view, 5> kUnconditionalExits = {"cpuid", "getsec", "invd",
                                                                 "xsetbv", "vmcall"};
// Bound on EPT violations for one access: one per guest table level (five with CR4.LA57) plus
// the data page.
constexpr int kMaxViolationsPerWalk = x86::kMaxLevels + 1;

// What the hypervisor does on each exit SLAT still takes (for `vmmu demo exits`).
std::string_view exit_action(ExitReason r) {
    switch (r) {
    case ExitReason::EptViolation:
        return "ept fill";
    case ExitReason::Timer:
        return "inject timer interrupt";
    case ExitReason::Hlt:
        return "halt vCPU until the next interrupt";
    case ExitReason::Io:
        return "emulate port I/O";
    case ExitReason::Ipi:
        return "deliver IPI (APIC write or injection)";
    case ExitReason::RemoteFlush:
        return "flush this vCPU's TLBs (INVEPT), re-enter";
    default:
        return "emulate instruction";
    }
}

} // namespace

SlatBackend::SlatBackend(const BackendEnv& env)
    : env_(checked(env)), cpu_(env.initial_cr3, env.initial_cr4), vpid_(env.profile->vpid ? 1 : 0),
      tlb_(env.profile->tlb, &counters_.tlb),
      ept_(*env.p2m, env.memory->size(), env.ept_page_shift, static_cast<int>(env.ept_levels)),
      walker_(*env.memory, ept_, walker_config(env), &counters_.walks) {
    tlb_.set_context(cpu_.pcid(), vpid_);
    if (env.oracle) walker_.set_oracle(env.p2m, env.host, env.vm);
    own_.ept_table_pages = ept_.table_pages();
    caches_ = backend_caches(env.caches, env.profile->caches, env.price_data, &counters_.caches);
    walker_.set_caches(caches_.enabled() ? &caches_ : nullptr);
    apic_ = ApicExits::of(*env.profile);
}

void SlatBackend::on_vcpu_start(unsigned index) {
    VcpuState fresh{cpu_, TlbHierarchy(env_.profile->tlb, &counters_.tlb), walker_.fresh_caches()};
    fresh.tlb.set_context(cpu_.pcid(), vpid_);
    vcpus_.start(index, std::move(fresh));
}

void SlatBackend::on_vcpu_switch(unsigned index) {
    vcpus_.switch_to(index, [this](VcpuState& s) {
        std::swap(cpu_, s.cpu);
        std::swap(tlb_, s.tlb);
        walker_.exchange_caches(s.walk);
    });
}

void SlatBackend::on_ipi_send(uint64_t, uint16_t port, uint8_t, uint32_t dests) {
    smp_.on_ipi_send(dests);
    if (apic_.send) vm_exit(ExitReason::Ipi, port);
}

void SlatBackend::on_eoi(uint64_t, uint16_t port) {
    if (apic_.eoi) vm_exit(ExitReason::Io, port);
}

void SlatBackend::on_ipi_receive(uint64_t, uint8_t vector) {
    smp_.ipis_received++;
    if (apic_.receive) vm_exit(ExitReason::Ipi, vector);
}

void SlatBackend::on_access(const DataAccess& a) {
    if (!caches_.enabled()) return translate(a.va, a.pa, false, a.write);
    HostPhys hpa = env_.p2m->translate(a.pa);
    caches_.prefetch(hpa);
    translate(a.va, a.pa, false, a.write);
    caches_.data(hpa);
}

void SlatBackend::on_fetch(const Fetch& f) {
    // One lookup per 4K page the block touches; code is identity-mapped, so pa follows va.
    for_each_fetch_page(f, [this](GuestVirt va, GuestPhys pa) { translate(va, pa, true, false); });
}

void SlatBackend::on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) {
    repeat_loop(
        tlb_, caches_, body, k, env_.oracle, [] { return true; },
        [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, hpa, p, w); },
        [&](uint64_t pass) { replay_pass(body, pass); },
        [this](GuestPhys pa) { return env_.p2m->translate(pa); });
}

void SlatBackend::on_cr3_write(uint64_t, uint64_t new_cr3) {
    apply(cpu_.write_cr3(new_cr3));
    tlb_.set_context(cpu_.pcid(), vpid_);
}

void SlatBackend::on_cr4_write(uint64_t, uint64_t new_cr4) {
    apply(cpu_.write_cr4(new_cr4));
    tlb_.set_context(cpu_.pcid(), vpid_);
}

void SlatBackend::on_invlpg(uint64_t, GuestVirt va) {
    tlb_.invlpg(va);
    walker_.flush_guest_context(guest_context());
}

void SlatBackend::on_guest_fault(uint64_t, uint8_t vector, GuestVirt cr2, uint32_t) {
    // Delivered through the guest IDT without an exit; the #PF still invalidates (SDM 4.10.4.1).
    if (vector != x86::kVecPf) return;
    tlb_.invlpg(cr2);
    walker_.invalidate_guest_address(cr2, guest_context());
}

void SlatBackend::on_sensitive(uint64_t, std::string_view mnemonic) {
    if (std::find(kUnconditionalExits.begin(), kUnconditionalExits.end(), mnemonic) !=
        kUnconditionalExits.end())
        vm_exit(ExitReason::Other);
}

const BackendCounters& SlatBackend::counters() const {
    own_.report(counters_.details);
    smp_.report(counters_.details);
    return counters_;
}

CycleBreakdown SlatBackend::cycles(uint64_t guest_instructions) const {
    return compute_cycles(counters(), *env_.profile, guest_instructions);
}

void SlatBackend::apply(Invalidate what) {
    if (what == Invalidate::NonGlobal) {
        tlb_.flush_non_global(cpu_.pcid());
        walker_.flush_guest_context(guest_context());
    } else if (what == Invalidate::All) {
        tlb_.flush_vpid(vpid_);
        walker_.flush_guest_all();
    }
}

void SlatBackend::vm_exit(ExitReason reason, uint64_t address) {
    counters_.exits.count(reason);
    // The exit handlers here do not get the guest RIP: traces carry the address only.
    if (env_.exit_trace) env_.exit_trace({reason, 0, address, exit_action(reason)});
    // Without VPID, VM exit and entry invalidate linear and combined mappings (SDM 28.3.3.1);
    // guest-physical ones (nested TLB, nested PWC) are EPTP-tagged and survive.
    if (!env_.profile->vpid) {
        tlb_.flush_all();
        walker_.flush_guest_all();
    }
}

// Hot path: an L1 hit the TLB's memo knows, checked inline; everything else out of line.
void SlatBackend::translate(GuestVirt va, GuestPhys pa, bool fetch, bool write) {
    translate_fast(
        tlb_, va, pa, fetch, write, env_.oracle,
        [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, hpa, p, w); },
        [&](const Translation* recalled) { translate_slow(va, pa, fetch, write, recalled); });
}

void SlatBackend::translate_slow(GuestVirt va, GuestPhys pa, bool fetch, bool write,
                                 const Translation* recalled) {
    translate_access(
        tlb_, va, pa, fetch, write, recalled, env_.oracle, [this] { own_.perm_rewalks++; },
        [this](GuestVirt v, GuestPhys p) { return walk(v, p); },
        [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, hpa, p, w); });
}

Translation SlatBackend::walk(GuestVirt va, GuestPhys functional) {
    WalkCounters& wc = counters_.walks;
    for (int violations = 0;; ++violations) {
        wc.walks++;
        Walk2dResult r = walker_.walk(va, cpu_.root(), guest_context(), trace_);
        wc.max_refs_per_walk = std::max(wc.max_refs_per_walk, r.refs);
        if (r.status == Walk2dResult::Status::Ok) {
            r.t.global = r.t.global && cpu_.pge();
            return r.t;
        }
        if (r.status == Walk2dResult::Status::GuestNotPresent) {
            if (env_.oracle)
                throw OracleMismatch(fmt::format(
                    "slat: walk of gVA {:#x} (CR3 {:#x}) found a not-present guest entry at "
                    "level {}, but the access succeeded functionally at gPA {:#x}",
                    va.value(), cpu_.cr3(), r.fault_level, functional.value()));
            own_.stale_walks++;
            Translation t;
            t.frame = env_.p2m->translate(functional.page_base());
            return t;
        }
        if (violations == kMaxViolationsPerWalk)
            throw std::logic_error(
                fmt::format("slat: gVA {:#x} keeps raising EPT violations (at gPA {:#x})",
                            va.value(), r.violation_gpa.value()));
        // The guest re-executes the access after the exit and walks again.
        handle_ept_violation(r.violation_gpa);
    }
}

void SlatBackend::handle_ept_violation(GuestPhys gpa) {
    own_.ept_table_pages += ept_.map(gpa);
    vm_exit(ExitReason::EptViolation, gpa.value());
}

// Inlined into the hit path (the oracle's slow path stays out of line).
[[gnu::always_inline]] inline void SlatBackend::check(GuestVirt va, HostPhys hpa,
                                                      GuestPhys functional, bool write) const {
    check_oracle("slat", env_, va, functional, hpa, env_.p2m->translate(functional),
                 env_.p2m->shared(functional), write);
}

void SlatBackend::on_host_remap(GuestPhys frame, HostRemap what) {
    auto entry = ept_.leaf_entry(frame);
    // Never mapped: the first access takes its EPT violation and maps what p2m says then.
    if (!entry) return;
    if (ept_.leaf_shift() != kPageShift4K)
        throw std::logic_error("slat: deduplication needs 4 KiB EPT leaves");
    if (what == HostRemap::Merged) {
        own_.dedup_merged++;
    } else {
        // The write (a guest store, or the walker setting an A/D bit) hit the read-only leaf: an
        // EPT violation; the hypervisor gives the frame back and rewrites the leaf writable.
        own_.dedup_breaks++;
        vm_exit(ExitReason::EptViolation, frame.value());
    }
    ept_.map(frame); // the leaf now says what p2m says: shared read-only, or private writable
    // The host changed a present EPT entry: INVEPT (single context) drops guest-physical and
    // combined mappings (SDM 28.3.3.1; KVM flushes after an mmu-notifier change), on every vCPU
    // of the VM. A merge is the host scanner's, between the VM's slices; a break is taken by
    // the vCPU that wrote, while the others run.
    own_.dedup_invept++;
    invept_every_vcpu(what != HostRemap::Merged, frame.value());
}

void SlatBackend::invept_every_vcpu(bool kick, uint64_t address) {
    walker_.flush_nested();
    tlb_.flush_vpid(vpid_);
    walker_.flush_guest_all();
    uint64_t others = 0, entries = 0;
    uint64_t tlb_before = counters_.tlb.flushed_entries;
    vcpus_.for_each_parked([&](VcpuState& s) {
        ++others;
        entries += s.walk.flush_nested();
        s.walk.guest_pwc.flush_all();
        s.tlb.flush_vpid(vpid_);
    });
    // Exits of the other vCPUs: their own TLBs are the ones just flushed, whatever VPID says.
    uint64_t kicked = smp_.on_remote_flush(
        others, entries + (counters_.tlb.flushed_entries - tlb_before), kick, counters_.exits);
    if (env_.exit_trace)
        for (uint64_t i = 0; i < kicked; ++i)
            env_.exit_trace(
                {ExitReason::RemoteFlush, 0, address, exit_action(ExitReason::RemoteFlush)});
}

void SlatBackend::corrupt_ept_leaf(GuestPhys gpa, HostPhys frame) {
    auto entry = ept_.leaf_entry(gpa);
    if (!entry) throw std::invalid_argument(fmt::format("gPA {:#x} has no EPT leaf", gpa.value()));
    uint64_t e = ept_.read(*entry);
    ept_.write(*entry, (e & ~ept::kAddrMask) | frame.value());
    tlb_.flush_all();
    invept_every_vcpu(true, gpa.value());
}

Walk2dResult SlatBackend::traced_walk(GuestVirt va, bool caches, bool flush,
                                      std::vector<WalkRef>& trace) {
    WalkCounters scratch;
    Walker2dConfig none;
    none.guest_levels = cpu_.levels();
    Walker2d uncached(*env_.memory, ept_, none, &scratch);
    // Walk caches aside, the references still go through the data caches (when modelled).
    uncached.set_caches(caches_.enabled() ? &caches_ : nullptr);
    Walker2d& w = caches ? walker_ : uncached;
    for (int violations = 0;; ++violations) {
        if (flush) {
            walker_.flush_nested();
            walker_.flush_guest_all();
        }
        trace.clear();
        Walk2dResult r = w.walk(va, cpu_.root(), guest_context(), &trace);
        if (r.status != Walk2dResult::Status::EptViolation || violations == kMaxViolationsPerWalk)
            return r;
        ept_.map(r.violation_gpa);
    }
}

Walk2d SlatBackend::trace_2d(GuestVirt va, WalkCaches caches) {
    Walk2d w;
    bool cached = caches != WalkCaches::None;
    Walk2dResult r = traced_walk(va, cached, caches == WalkCaches::FromEmpty, w.steps);
    w.references = r.refs;
    w.ok = r.status == Walk2dResult::Status::Ok;
    if (w.ok) {
        w.gpa = r.gpa;
        w.hpa = r.t.host(va);
    } else if (r.status == Walk2dResult::Status::GuestNotPresent) {
        w.fault_level = r.fault_level;
    }
    return w;
}

namespace {
const bool registered = register_backend(
    "slat", [](const BackendEnv& env) { return std::make_unique<SlatBackend>(env); });
} // namespace

} // namespace vmmu
