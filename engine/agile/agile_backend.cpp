#include "engine/agile/agile_backend.h"

#include "engine/core/paging.h"
#include "engine/core/x86.h"
#include "engine/mmu/cost.h"
#include "engine/mmu/oracle.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/translate.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu::agile {
namespace {

const BackendEnv& checked(const BackendEnv& env) {
    if (!env.memory || !env.p2m || !env.profile)
        throw std::invalid_argument("agile backend needs memory, p2m and profile");
    return env;
}

// The nested part has slat's hardware: the profile's PWCs and nested TLB, minus those switched off.
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
// Bound on exits for one access: a hidden fault per shadowed level, an EPT violation per guest
// level below and the data page (five levels with CR4.LA57), and one to spare.
constexpr int kMaxExitsPerWalk = 2 * x86::kMaxLevels + 2;
constexpr uint64_t kGiB = uint64_t{1} << 30;

bool leaf_entry(uint64_t e, int level) {
    return level == 1 || ((level == 2 || level == 3) && (e & x86::kPtePs));
}

// A shadow entry rewritten from `old` to `now` may leave other vCPUs a translation the guest no
// longer gives: it was present and is gone, points elsewhere or lost a right (KVM's
// need_remote_flush).
bool restricts(uint64_t old, uint64_t now) {
    if (!(old & x86::kPteP)) return false;
    if (!(now & x86::kPteP)) return true;
    if ((old & x86::kPteAddrMask) != (now & x86::kPteAddrMask)) return true;
    if ((old & x86::kPteW) && !(now & x86::kPteW)) return true;
    if ((old & x86::kPteU) && !(now & x86::kPteU)) return true;
    return !(old & x86::kPteNx) && (now & x86::kPteNx);
}

std::string_view exit_action(ExitReason r) {
    switch (r) {
    case ExitReason::PtWrite:
        return "emulate write to a shadowed guest table";
    case ExitReason::PfHidden:
        return "fill shadow entry";
    case ExitReason::PfGuest:
        return "reflect #PF";
    case ExitReason::Cr3Write:
        return "switch shadow root";
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
        return "flush this vCPU's TLBs and walk caches, re-enter";
    default:
        return "emulate instruction";
    }
}

} // namespace

AgileOptions AgileOptions::parse(const std::map<std::string, std::string>& options) {
    auto v = parse_scheme_options("agile", options);
    AgileOptions o;
    o.nested_threshold = v.at("nested_threshold");
    o.revert_ticks = v.at("revert_ticks");
    return o;
}

std::vector<SchemeOption> AgileOptions::describe() {
    // Gandhi et al. (ISCA 2016, section IV) move a shadowed page-table page to nested mode once
    // the guest keeps writing it, and periodically move nested parts back using the dirty bits
    // of their pages; the counts are VMM policy, so both defaults are estimates.
    return {
        {"nested_threshold", "2",
         "writes to a shadowed guest page-table page (each an exit) before it and the tables "
         "below it move to nested mode (estimate: the paper switches a page that keeps being "
         "written; 2 tolerates the odd update of a settled table)",
         1, 1'000'000},
        {"revert_ticks", "10",
         "timer ticks between attempts to move nested subtrees none of whose pages was written "
         "back to shadow mode; 0 never moves back (estimate: the paper re-checks periodically; "
         "10 ticks are 10 M guest instructions at the default timer period, so runs of that "
         "length see it)",
         0, 1'000'000},
    };
}

void AgileCounters::report(Details& d) const {
    d["to_nested"] = to_nested;
    d["to_shadow"] = to_shadow;
    d["shadow_pages"] = shadow_pages;
    d["shadow_refs"] = shadow_refs;
    d["nested_part_refs"] = nested_part_refs;
    d["walks_shadow_only"] = walks_shadow_only;
    d["walks_switched"] = walks_switched;
    d["ept_table_pages"] = ept_table_pages;
    d[std::string(kDetailHvRefs)] = hv_guest_pte_reads;
    report_nonzero(d, "revert_checks", revert_checks);
    report_nonzero(d, "nested_pt_writes", nested_pt_writes);
    report_nonzero(d, "perm_rewalks", perm_rewalks);
    report_nonzero(d, "stale_walks", stale_walks);
    report_nonzero(d, "world_switches", world_switches);
}

AgileBackend::AgileBackend(const BackendEnv& env)
    : env_(checked(env)), opt_(AgileOptions::parse(env.options)),
      cpu_(env.initial_cr3, env.initial_cr4), vpid_(env.profile->vpid ? 1 : 0),
      tlb_(env.profile->tlb, &counters_.tlb),
      ept_(*env.p2m, env.memory->size(), env.ept_page_shift, static_cast<int>(env.ept_levels)),
      walker_(*env.memory, ept_, walker_config(env), &counters_.walks),
      shadow_pwc_(env.pwc ? env.profile->pwc : PwcConfig{}, &counters_.walks),
      pages_(*env.memory, ept_.pool_base() + kGiB) {
    tlb_.set_context(cpu_.pcid(), vpid_);
    walker_.set_scheme_name("agile");
    if (env.oracle) walker_.set_oracle(env.p2m, env.host, env.vm);
    own_.ept_table_pages = ept_.table_pages();
    caches_ = backend_caches(env.caches, env.profile->caches, env.price_data, &counters_.caches);
    walker_.set_caches(caches_.enabled() ? &caches_ : nullptr);
    apic_ = ApicExits::of(*env.profile);
}

void AgileBackend::on_vcpu_start(unsigned index) {
    VcpuState fresh{cpu_, TlbHierarchy(env_.profile->tlb, &counters_.tlb), walker_.fresh_caches(),
                    ShadowPwc(env_.pwc ? env_.profile->pwc : PwcConfig{}, &counters_.walks)};
    fresh.tlb.set_context(cpu_.pcid(), vpid_);
    vcpus_.start(index, std::move(fresh));
}

void AgileBackend::on_vcpu_switch(unsigned index) {
    vcpus_.switch_to(index, [this](VcpuState& s) {
        std::swap(cpu_, s.cpu);
        std::swap(tlb_, s.tlb);
        walker_.exchange_caches(s.walk);
        std::swap(shadow_pwc_, s.shadow_pwc);
    });
}

void AgileBackend::on_ipi_send(uint64_t, uint16_t port, uint8_t, uint32_t dests) {
    smp_.on_ipi_send(dests);
    if (apic_.send) vm_exit(ExitReason::Ipi, port);
}

void AgileBackend::on_eoi(uint64_t, uint16_t port) {
    if (apic_.eoi) vm_exit(ExitReason::Io, port);
}

void AgileBackend::on_ipi_receive(uint64_t, uint8_t vector) {
    smp_.ipis_received++;
    if (apic_.receive) vm_exit(ExitReason::Ipi, vector);
}

void AgileBackend::flush_other_vcpus(Remote what, bool kick, uint64_t address) {
    uint64_t others = 0, entries = 0;
    uint64_t tlb_before = counters_.tlb.flushed_entries;
    vcpus_.for_each_parked([&](VcpuState& s) {
        ++others;
        s.walk.guest_pwc.flush_all();
        s.shadow_pwc.flush_all();
        if (what != Remote::Ept) return;
        entries += s.walk.flush_nested();
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

void AgileBackend::on_access(const DataAccess& a) {
    if (!caches_.enabled()) return translate(a.va, a.pa, false, a.write);
    HostPhys hpa = env_.p2m->translate(a.pa);
    caches_.prefetch(hpa);
    translate(a.va, a.pa, false, a.write);
    caches_.data(hpa);
}

void AgileBackend::on_fetch(const Fetch& f) {
    for_each_fetch_page(f, [this](GuestVirt va, GuestPhys pa) { translate(va, pa, true, false); });
}

void AgileBackend::on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) {
    repeat_loop(
        tlb_, caches_, body, k, env_.oracle, [] { return true; },
        [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, hpa, p, w); },
        [&](uint64_t pass) { replay_pass(body, pass); },
        [this](GuestPhys pa) { return env_.p2m->translate(pa); });
}

void AgileBackend::on_cr3_write(uint64_t, uint64_t new_cr3) {
    apply(cpu_.write_cr3(new_cr3));
    tlb_.set_context(cpu_.pcid(), vpid_);
    // A shadowed root: the hypervisor must load its shadow page as the hardware root (as in
    // shadow paging); a nested root is the guest's own CR3, loaded without an exit.
    ShadowPage* root = pages_.find(cpu_.root());
    if (!root || !root->nested) vm_exit(ExitReason::Cr3Write, new_cr3);
}

void AgileBackend::on_cr4_write(uint64_t, uint64_t new_cr4) {
    apply(cpu_.write_cr4(new_cr4));
    tlb_.set_context(cpu_.pcid(), vpid_);
}

void AgileBackend::on_invlpg(uint64_t, GuestVirt va) {
    // The shadow pages are kept coherent by write protection, so INVLPG needs no hypervisor.
    tlb_.invlpg(va);
    walker_.flush_guest_context(guest_context());
    shadow_pwc_.flush_context(guest_context());
}

void AgileBackend::on_pt_write(uint64_t, GuestPhys gpa, uint64_t, uint64_t, uint8_t size) {
    ShadowPage* p = pages_.find(gpa);
    if (!p) return; // a frame only another scheme watches
    p->dirty = true;
    if (p->nested) {
        own_.nested_pt_writes++;
        return;
    }
    vm_exit(ExitReason::PtWrite, gpa.value());
    // Emulate the write: each entry it touched now reads as the guest's new entry.
    unsigned first = static_cast<unsigned>(gpa.page_offset() / 8);
    unsigned last = static_cast<unsigned>((gpa.page_offset() + (size ? size - 1 : 0)) / 8);
    bool remote = false;
    for (unsigned i = first; i <= last && i < 512; ++i) {
        uint64_t old = p->entry[i];
        uint64_t now = env_.memory->read_u64(p->gpa + 8ull * i);
        own_.hv_guest_pte_reads++;
        p->entry[i] = (now & x86::kPteP) ? now : 0;
        // A cached pointer to a table below may have changed: drop the shadow PWC.
        if ((old & x86::kPteP) && !leaf_entry(old, p->level)) shadow_pwc_.flush_all();
        remote = remote || restricts(old, p->entry[i]);
    }
    // The shadow pages are shared: an entry that went away or lost rights may still be cached by
    // the other vCPUs, which the hypervisor flushes at once (KVM's kvm_mmu_pte_write and
    // need_remote_flush); the guest's own shootdown comes on top. Their TLBs keep what they
    // hold here (limitation): each vCPU's functional TLB (QEMU's) keeps a translation until the
    // guest's own invlpg, so a model TLB that forgot it sooner would translate ahead of the
    // access it checks; the kick and the walk caches it drops are counted.
    if (remote) flush_other_vcpus(Remote::WalkCaches, true, gpa.value());
    if (++p->writes > opt_.nested_threshold) move_to_nested(*p);
}

void AgileBackend::move_to_nested(ShadowPage& page) {
    own_.to_nested++;
    pages_.for_subtree(page, [this](ShadowPage& p) {
        p.nested = true;
        p.top = false;
        p.writes = 0;
        p.entry.fill(0);
        own_.hv_guest_pte_reads += p.level > 1 ? 512 : 0;
    });
    page.top = true;
    shadow_pwc_.flush_all();
    // The subtree's shadow pages are zapped: the other vCPUs' walk caches may point into them
    // (KVM flushes remote TLBs after zapping shadow pages).
    flush_other_vcpus(Remote::WalkCaches, true, page.gpa.value());
}

void AgileBackend::revert_check() {
    own_.revert_checks++;
    for (ShadowPage* top : pages_.nested_tops()) {
        bool written = false;
        pages_.for_subtree(*top, [&](ShadowPage& p) {
            written = written || p.dirty;
            p.dirty = false;
        });
        if (written) continue;
        // Unchanged for a whole interval: shadow it again, entries filled lazily.
        own_.to_shadow++;
        pages_.for_subtree(*top, [](ShadowPage& p) {
            p.nested = false;
            p.top = false;
            p.writes = 0;
            p.entry.fill(0);
        });
    }
    shadow_pwc_.flush_all();
}

void AgileBackend::on_timer(uint64_t) {
    vm_exit(ExitReason::Timer);
    // The hypervisor runs its policy on the timer exit it takes anyway.
    if (opt_.revert_ticks && ++ticks_ % opt_.revert_ticks == 0) revert_check();
}

void AgileBackend::on_guest_fault(uint64_t, uint8_t vector, GuestVirt cr2, uint32_t) {
    if (vector != x86::kVecPf) return;
    tlb_.invlpg(cr2);
    walker_.invalidate_guest_address(cr2, guest_context());
    shadow_pwc_.invalidate_address(cr2, guest_context());
    // The fault reaches the hypervisor only if the hardware walk stopped in the shadowed part.
    GuestPhys table = cpu_.root();
    for (int level = cpu_.levels(); level >= 1; --level) {
        ShadowPage* p = pages_.find(table);
        if (p && p->nested) return; // the 2D walk faulted: delivered without an exit
        GuestPhys entry = table + 8ull * x86::table_index(cr2, level);
        if (!env_.memory->contains(entry, 8)) break;
        uint64_t e = env_.memory->read_u64(entry);
        if (!(e & x86::kPteP) || leaf_entry(e, level)) break;
        table = GuestPhys(e & x86::kPteAddrMask);
    }
    vm_exit(ExitReason::PfGuest, cr2.value());
}

void AgileBackend::on_sensitive(uint64_t, std::string_view mnemonic) {
    if (std::find(kUnconditionalExits.begin(), kUnconditionalExits.end(), mnemonic) !=
        kUnconditionalExits.end())
        vm_exit(ExitReason::Other);
}

void AgileBackend::on_host_remap(GuestPhys frame, HostRemap what) {
    // Shadow leaves map p2m(gPA) when used; nested ones go through the EPT, which follows p2m.
    auto entry = ept_.leaf_entry(frame);
    if (what == HostRemap::BrokenByWrite) vm_exit(ExitReason::EptViolation, frame.value());
    if (entry) ept_.map(frame);
    walker_.flush_nested();
    walker_.flush_guest_all();
    shadow_pwc_.flush_all();
    tlb_.flush_vpid(vpid_);
    // INVEPT on every vCPU: a break is taken by the vCPU that wrote while the others run; the
    // host scanner's merges and divergences come between the VM's slices (flushed at entry).
    flush_other_vcpus(Remote::Ept, what == HostRemap::BrokenByWrite, frame.value());
}

const BackendCounters& AgileBackend::counters() const {
    own_.report(counters_.details);
    smp_.report(counters_.details);
    return counters_;
}

CycleBreakdown AgileBackend::cycles(uint64_t guest_instructions) const {
    return compute_cycles(counters(), *env_.profile, guest_instructions);
}

void AgileBackend::apply(Invalidate what) {
    if (what == Invalidate::NonGlobal) {
        tlb_.flush_non_global(cpu_.pcid());
        walker_.flush_guest_context(guest_context());
        shadow_pwc_.flush_context(guest_context());
    } else if (what == Invalidate::All) {
        tlb_.flush_vpid(vpid_);
        walker_.flush_guest_all();
        shadow_pwc_.flush_all();
    }
}

void AgileBackend::vm_exit(ExitReason reason, uint64_t address) {
    counters_.exits.count(reason);
    if (env_.exit_trace) env_.exit_trace({reason, 0, address, exit_action(reason)});
    // Without VPID, VM exit and entry invalidate linear and combined mappings (SDM 28.3.3.1).
    if (!env_.profile->vpid) {
        tlb_.flush_all();
        walker_.flush_guest_all();
        shadow_pwc_.flush_all();
    }
}

void AgileBackend::translate(GuestVirt va, GuestPhys pa, bool fetch, bool write) {
    translate_fast(
        tlb_, va, pa, fetch, write, env_.oracle,
        [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, hpa, p, w); },
        [&](const Translation* recalled) { translate_slow(va, pa, fetch, write, recalled); });
}

void AgileBackend::translate_slow(GuestVirt va, GuestPhys pa, bool fetch, bool write,
                                  const Translation* recalled) {
    translate_access(
        tlb_, va, pa, fetch, write, recalled, env_.oracle, [this] { own_.perm_rewalks++; },
        [this](GuestVirt v, GuestPhys p) { return walk(v, p); },
        [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, hpa, p, w); });
}

Translation AgileBackend::walk(GuestVirt va, GuestPhys functional) {
    WalkCounters& wc = counters_.walks;
    for (int exits = 0; exits <= kMaxExitsPerWalk; ++exits) {
        wc.walks++;
        uint64_t refs = 0;
        Step s = walk_once(va, functional, refs);
        wc.max_refs_per_walk = std::max(wc.max_refs_per_walk, refs);
        if (s.ok) return s.t;
    }
    throw std::logic_error(fmt::format("agile: gVA {:#x} keeps raising exits", va.value()));
}

AgileBackend::Step AgileBackend::walk_once(GuestVirt va, GuestPhys functional, uint64_t& refs) {
    WalkCounters& wc = counters_.walks;
    uint32_t ctx = guest_context();
    int level = cpu_.levels();
    ShadowPage* page = &pages_.get(cpu_.root(), level);
    own_.shadow_pages = pages_.size();
    uint16_t perms = Walker2d::kPermW | Walker2d::kPermU;
    if (!page->nested && shadow_pwc_.enabled()) {
        ShadowPwc::Probe probe = shadow_pwc_.lookup(va, ctx);
        if (probe.hit()) {
            if (ShadowPage* cached = pages_.at_frame(probe.table)) {
                page = cached;
                level = probe.level;
                perms = probe.flags;
            }
        }
    }
    for (;;) {
        if (page->nested) {
            // The switch: from this guest table down, the hardware walks guest × EPT.
            Walk2dResult r = walker_.walk_from(va, level, page->gpa, perms, ctx);
            refs += r.refs;
            own_.nested_part_refs += r.refs;
            if (r.status == Walk2dResult::Status::EptViolation) {
                own_.ept_table_pages += ept_.map(r.violation_gpa);
                vm_exit(ExitReason::EptViolation, r.violation_gpa.value());
                return {};
            }
            if (r.status == Walk2dResult::Status::GuestNotPresent)
                return {true, stale(va, functional, r.fault_level)};
            own_.walks_switched++;
            r.t.global = r.t.global && cpu_.pge();
            return {true, r.t};
        }
        unsigned index = x86::table_index(va, level);
        uint64_t s = page->entry[index];
        ++refs;
        wc.refs++;
        wc.shadow_refs++;
        own_.shadow_refs++;
        // The hardware reads the shadow entry from the shadow page's host frame.
        if (caches_.enabled()) caches_.walk(page->frame + 8ull * index, WalkDimension::Shadow);
        if (!(s & x86::kPteP)) {
            fill(*page, index, va, functional);
            return {};
        }
        if (!(s & x86::kPteW)) perms &= ~Walker2d::kPermW;
        if (!(s & x86::kPteU)) perms &= ~Walker2d::kPermU;
        if (s & x86::kPteNx) perms |= Walker2d::kPermNx;
        if (leaf_entry(s, level)) {
            unsigned shift = x86::leaf_shift(level);
            GuestPhys gpa =
                GuestPhys(s & x86::kPteAddrMask).page_base(shift) + va.page_offset(shift);
            // The hypervisor maps gVA straight to p2m(gPA), in pages no larger than the host's.
            unsigned eff = std::min(shift, ept_.leaf_shift());
            Translation t;
            t.frame = env_.p2m->translate(gpa).page_base(eff);
            t.page_shift = static_cast<uint8_t>(eff);
            t.writable = (perms & Walker2d::kPermW) && !env_.p2m->shared(gpa);
            t.user = perms & Walker2d::kPermU;
            t.nx = perms & Walker2d::kPermNx;
            t.global = (s & x86::kPteG) && cpu_.pge();
            own_.walks_shadow_only++;
            return {true, t};
        }
        ShadowPage& child = pages_.get(GuestPhys(s & x86::kPteAddrMask), level - 1);
        own_.shadow_pages = pages_.size();
        if (!child.nested) shadow_pwc_.fill(va, level, child.frame, ctx, perms);
        page = &child;
        --level;
    }
}

void AgileBackend::fill(ShadowPage& page, unsigned index, GuestVirt va, GuestPhys functional) {
    uint64_t e = env_.memory->read_u64(page.gpa + 8ull * index);
    own_.hv_guest_pte_reads++;
    if (!(e & x86::kPteP)) {
        // The access succeeded functionally, so the guest entry cannot be missing.
        stale(va, functional, page.level);
        return;
    }
    page.entry[index] = e;
    vm_exit(ExitReason::PfHidden, va.value());
}

Translation AgileBackend::stale(GuestVirt va, GuestPhys functional, int level) {
    if (env_.oracle)
        throw OracleMismatch(fmt::format(
            "agile: walk of gVA {:#x} (CR3 {:#x}) found a not-present guest entry at level {}, "
            "but the access succeeded functionally at gPA {:#x}",
            va.value(), cpu_.cr3(), level, functional.value()));
    own_.stale_walks++;
    Translation t;
    t.frame = env_.p2m->translate(functional.page_base());
    return t;
}

[[gnu::always_inline]] inline void AgileBackend::check(GuestVirt va, HostPhys hpa,
                                                       GuestPhys functional, bool write) const {
    check_oracle("agile", env_, va, functional, hpa, env_.p2m->translate(functional),
                 env_.p2m->shared(functional), write);
}

WalkMixed AgileBackend::trace_mixed(GuestVirt va) {
    WalkMixed out;
    int level = cpu_.levels();
    ShadowPage* page = &pages_.get(cpu_.root(), level);
    own_.shadow_pages = pages_.size();
    uint16_t perms = Walker2d::kPermW | Walker2d::kPermU;
    for (; level >= 1 && !page->nested; --level) {
        unsigned index = x86::table_index(va, level);
        uint64_t s = page->entry[index];
        if (!(s & x86::kPteP)) {
            // What the hidden-fault exit would fill, uncounted.
            uint64_t e = env_.memory->read_u64(page->gpa + 8ull * index);
            if (!(e & x86::kPteP)) {
                out.shadowed.push_back({level, (page->frame + 8ull * index).value(), 0});
                return out;
            }
            page->entry[index] = s = e;
            out.filled = true;
        }
        // The demo's read goes through the caches as a walk's would; the counters stay as they
        // were (it is not a walk).
        CacheCounters kept = counters_.caches;
        HostPhys entry = page->frame + 8ull * index;
        CacheLevel served =
            caches_.enabled() ? caches_.walk(entry, WalkDimension::Shadow) : CacheLevel::Count;
        counters_.caches = kept;
        out.shadowed.push_back({level, entry.value(), s, served});
        if (!(s & x86::kPteW)) perms &= ~Walker2d::kPermW;
        if (!(s & x86::kPteU)) perms &= ~Walker2d::kPermU;
        if (s & x86::kPteNx) perms |= Walker2d::kPermNx;
        if (leaf_entry(s, level)) {
            unsigned shift = x86::leaf_shift(level);
            GuestPhys gpa =
                GuestPhys(s & x86::kPteAddrMask).page_base(shift) + va.page_offset(shift);
            out.ok = true;
            out.hpa = env_.p2m->translate(gpa);
            out.nested.gpa = gpa;
            return out;
        }
        page = &pages_.get(GuestPhys(s & x86::kPteAddrMask), level - 1);
        own_.shadow_pages = pages_.size();
    }
    // The switch: a cold 2D walk from this guest table down (no PWCs, no nested TLB), with the
    // data caches as the real walk has them; missing EPT entries installed as violations would.
    out.switch_level = level;
    WalkCounters scratch;
    Walker2dConfig none;
    none.guest_levels = cpu_.levels();
    Walker2d cold(*env_.memory, ept_, none, &scratch);
    cold.set_caches(caches_.enabled() ? &caches_ : nullptr);
    CacheCounters kept = counters_.caches;
    for (int violations = 0; violations <= x86::kMaxLevels + 1; ++violations) {
        out.nested.steps.clear();
        Walk2dResult r =
            cold.walk_from(va, level, page->gpa, perms, guest_context(), &out.nested.steps);
        out.nested.references = r.refs;
        if (r.status == Walk2dResult::Status::EptViolation) {
            own_.ept_table_pages += ept_.map(r.violation_gpa);
            continue;
        }
        if (r.status == Walk2dResult::Status::Ok) {
            out.ok = out.nested.ok = true;
            out.nested.gpa = r.gpa;
            out.hpa = out.nested.hpa = r.t.host(va);
        } else {
            out.nested.fault_level = r.fault_level;
        }
        break;
    }
    counters_.caches = kept;
    return out;
}

namespace {
const bool registered = register_backend(
    "agile", [](const BackendEnv& env) { return std::make_unique<AgileBackend>(env); },
    AgileOptions::describe());
} // namespace

} // namespace vmmu::agile
