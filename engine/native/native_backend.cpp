// Native paging: no hypervisor. A TLB miss walks the guest's own 4-level tables (at most 4
// references, fewer with page-walk-cache hits); there are no VM exits.
#include "engine/core/x86.h"
#include "engine/mmu/registry.h"
#include "engine/mmu/cache.h"
#include "engine/mmu/cost.h"
#include "engine/mmu/guest_cpu.h"
#include "engine/mmu/inspect.h"
#include "engine/mmu/oracle.h"
#include "engine/mmu/per_vcpu.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/pwc.h"
#include "engine/mmu/tlb.h"
#include "engine/mmu/translate.h"

#include <fmt/format.h>

#include <algorithm>

namespace vmmu {
namespace {

// Permission bits accumulated above a cached PWC entry, stored as the entry's flags.
constexpr uint16_t kPwcWritable = 1, kPwcUser = 2, kPwcNx = 4;

// Native's own counters, reported by name under "details" once they count something.
struct NativeCounters {
    uint64_t perm_rewalks = 0;   // a read-only TLB entry met a write: walked again
    uint64_t stale_walks = 0;    // without the oracle, a walk that failed where the access did not
    uint64_t world_switches = 0; // workloads of several VMs sharing the bare-metal CPU
    void report(Details& d) const {
        report_nonzero(d, "perm_rewalks", perm_rewalks);
        report_nonzero(d, "stale_walks", stale_walks);
        report_nonzero(d, "world_switches", world_switches);
    }
};

class NativeBackend final : public Backend, public Inspector {
public:
    explicit NativeBackend(const BackendEnv& env)
        : env_(checked(env)), cpu_(env.initial_cr3, env.initial_cr4),
          tlb_(env.profile->tlb, &counters_.tlb),
          pwc_(env.pwc ? env.profile->pwc : PwcConfig{}, &counters_.walks) {
        tlb_.set_context(cpu_.pcid(), 0);
        caches_ =
            backend_caches(env.caches, env.profile->caches, env.price_data, &counters_.caches);
    }

    std::string name() const override { return "native"; }

    void on_access(const DataAccess& a) override {
        if (!caches_.enabled()) return translate(a.va, a.pa, false, a.write);
        HostPhys hpa = env_.p2m->linear(a.pa);
        caches_.prefetch(hpa);
        translate(a.va, a.pa, false, a.write);
        caches_.data(hpa);
    }
    void on_fetch(const Fetch& f) override {
        // One lookup per 4K page the block touches; code is identity-mapped, so pa follows va.
        for_each_fetch_page(f,
                            [this](GuestVirt va, GuestPhys pa) { translate(va, pa, true, false); });
    }
    void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) override {
        repeat_loop(
            tlb_, caches_, body, k, env_.oracle, [] { return true; },
            [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, hpa, p, w); },
            [&](uint64_t pass) { replay_pass(body, pass); },
            [this](GuestPhys pa) { return env_.p2m->linear(pa); });
    }

    void on_cr3_write(uint64_t, uint64_t new_cr3) override {
        apply(cpu_.write_cr3(new_cr3));
        tlb_.set_context(cpu_.pcid(), 0);
    }
    void on_cr4_write(uint64_t, uint64_t new_cr4) override {
        apply(cpu_.write_cr4(new_cr4));
        tlb_.set_context(cpu_.pcid(), 0);
    }
    void on_invlpg(uint64_t, GuestVirt va) override {
        tlb_.invlpg(va);
        // INVLPG also drops every paging-structure-cache entry of the current PCID (SDM 4.10.4.1).
        pwc_.flush_context(cpu_.pcid());
    }
    void on_guest_fault(uint64_t, uint8_t vector, GuestVirt cr2, uint32_t) override {
        // A #PF invalidates what would translate the faulting address (SDM 4.10.4.1).
        if (vector != x86::kVecPf) return;
        tlb_.invlpg(cr2);
        pwc_.invalidate_address(cr2, cpu_.pcid());
    }
    // Several vCPUs: each has its own CR3/CR4, TLBs and walk caches (a core's); the data-cache
    // hierarchy stays one (estimate: the private L1D/L2 of each core are not modelled apart).
    bool models_vcpus() const override { return true; }
    void on_vcpu_start(unsigned index) override {
        VcpuState fresh{cpu_, TlbHierarchy(env_.profile->tlb, &counters_.tlb),
                        GuestPwc(env_.pwc ? env_.profile->pwc : PwcConfig{}, &counters_.walks)};
        fresh.tlb.set_context(cpu_.pcid(), 0);
        vcpus_.start(index, std::move(fresh));
    }
    void on_vcpu_switch(unsigned index) override {
        vcpus_.switch_to(index, [this](VcpuState& s) {
            std::swap(cpu_, s.cpu);
            std::swap(tlb_, s.tlb);
            std::swap(pwc_, s.pwc);
        });
    }

    // Hardware neither snoops page-table writes nor exits on these: nothing to model.
    void on_pt_write(uint64_t, GuestPhys, uint64_t, uint64_t, uint8_t) override {}
    void on_timer(uint64_t) override {}
    void on_syscall(uint64_t) override {}
    void on_hlt(uint64_t) override {}
    void on_io(uint64_t, uint16_t, bool) override {}
    void on_sensitive(uint64_t, std::string_view) override {}
    // Bare metal has no VMs: the workloads share the CPU as address spaces of one host, switched
    // without an exit; PCID-tagged entries survive (SDM 4.10.1), otherwise all go (each
    // workload has its own kernel, so not even global entries may stay).
    void on_world_switch() override {
        own_.world_switches++;
        if (!env_.profile->pcid) {
            tlb_.flush_all();
            pwc_.flush_all();
        }
    }

    // Bare metal has no host to share frames: deduplication does not exist here.
    void on_host_remap(GuestPhys, HostRemap) override {}

    bool runs_under_hypervisor() const override { return false; }
    const BackendCounters& counters() const override {
        own_.report(counters_.details);
        return counters_;
    }
    CycleBreakdown cycles(uint64_t guest_instructions) const override {
        return compute_cycles(counters(), *env_.profile, guest_instructions);
    }

    // Inspection (engine/mmu/inspect.h): the guest's own tables, read as the hardware would.
    Inspector* inspector() override { return this; }
    WalkShape walk_shape() const override { return WalkShape::GuestTables; }
    GuestPhys guest_root() const override { return cpu_.root(); }
    int guest_levels() const override { return cpu_.levels(); }
    Walk1d walk_1d(GuestVirt va) override {
        Walk1d out;
        out.refs = guest_walk(*env_.memory, cpu_.root(), va, cpu_.levels());
        if (out.refs.empty()) return out;
        // The demo's reads go through the caches as a walk's would; the counters stay as they
        // were (it is not a walk).
        CacheCounters kept = counters_.caches;
        if (caches_.enabled())
            for (Ref1d& r : out.refs)
                r.served =
                    caches_.walk(env_.p2m->linear(GuestPhys(r.address)), WalkDimension::Guest);
        counters_.caches = kept;
        const Ref1d& last = out.refs.back();
        if (!(last.entry & x86::kPteP) || (last.level > 1 && !(last.entry & x86::kPtePs)))
            return out;
        unsigned shift = x86::leaf_shift(last.level);
        GuestPhys pa =
            GuestPhys(last.entry & x86::kPteAddrMask).page_base(shift) + va.page_offset(shift);
        out.ok = true;
        out.hpa = env_.p2m->linear(pa);
        return out;
    }

private:
    static const BackendEnv& checked(const BackendEnv& env) {
        if (!env.memory || !env.p2m || !env.profile)
            throw std::invalid_argument("native backend needs memory, p2m and profile");
        return env;
    }

    void apply(Invalidate what) {
        if (what == Invalidate::NonGlobal) {
            tlb_.flush_non_global(cpu_.pcid());
            pwc_.flush_context(cpu_.pcid());
        } else if (what == Invalidate::All) {
            tlb_.flush_all();
            pwc_.flush_all();
        }
    }

    // Hot path: an L1 hit the TLB's memo knows, checked inline; everything else out of line.
    void translate(GuestVirt va, GuestPhys pa, bool fetch, bool write) {
        translate_fast(
            tlb_, va, pa, fetch, write, env_.oracle,
            [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, hpa, p, w); },
            [&](const Translation* recalled) { translate_slow(va, pa, fetch, write, recalled); });
    }
    [[gnu::noinline]] void translate_slow(GuestVirt va, GuestPhys pa, bool fetch, bool write,
                                          const Translation* recalled) {
        translate_access(
            tlb_, va, pa, fetch, write, recalled, env_.oracle, [this] { own_.perm_rewalks++; },
            [this](GuestVirt v, GuestPhys p) { return walk(v, p); },
            [this](GuestVirt v, HostPhys hpa, GuestPhys p, bool w) { check(v, hpa, p, w); });
    }

    Translation walk(GuestVirt va, GuestPhys functional) {
        WalkCounters& wc = counters_.walks;
        wc.walks++;
        int level = cpu_.levels();
        GuestPhys table = cpu_.root();
        uint16_t perms = kPwcWritable | kPwcUser;
        if (pwc_.enabled()) {
            GuestPwc::Probe probe = pwc_.lookup(va, cpu_.pcid());
            if (probe.hit()) {
                level = probe.level;
                table = probe.table;
                perms = probe.flags;
            }
        }
        uint64_t refs = 0;
        for (; level >= 1; --level) {
            GuestPhys entry_pa = table + 8ull * x86::table_index(va, level);
            if (!env_.memory->contains(entry_pa, 8)) return stale(va, functional, level);
            uint64_t e = env_.memory->read_u64(entry_pa);
            ++refs;
            if (caches_.enabled()) caches_.walk(env_.p2m->linear(entry_pa), WalkDimension::Guest);
            if (!(e & x86::kPteP)) return stale(va, functional, level);
            if (!(e & x86::kPteW)) perms &= ~kPwcWritable;
            if (!(e & x86::kPteU)) perms &= ~kPwcUser;
            if (e & x86::kPteNx) perms |= kPwcNx;
            bool leaf = level == 1 || ((level == 2 || level == 3) && (e & x86::kPtePs));
            if (leaf) {
                finish(refs);
                unsigned shift = x86::leaf_shift(level);
                GuestPhys base = GuestPhys(e & x86::kPteAddrMask).page_base(shift);
                Translation t;
                t.frame = env_.p2m->linear(base);
                t.page_shift = static_cast<uint8_t>(shift);
                t.writable = perms & kPwcWritable;
                t.user = perms & kPwcUser;
                t.nx = perms & kPwcNx;
                t.global = (e & x86::kPteG) && cpu_.pge();
                return t;
            }
            table = GuestPhys(e & x86::kPteAddrMask);
            pwc_.fill(va, level, table, cpu_.pcid(), perms);
        }
        return stale(va, functional, 0); // unreachable: level 1 is always a leaf
    }

    void finish(uint64_t refs) {
        WalkCounters& wc = counters_.walks;
        wc.refs += refs;
        wc.guest_refs += refs;
        wc.max_refs_per_walk = std::max(wc.max_refs_per_walk, refs);
    }

    // The walk disagrees with the access that just succeeded: the model is stale.
    Translation stale(GuestVirt va, GuestPhys functional, int level) {
        if (env_.oracle)
            throw OracleMismatch(fmt::format(
                "native: walk of gVA {:#x} (CR3 {:#x}) failed at level {}, but the access "
                "succeeded functionally at gPA {:#x} (hPA {:#x})",
                va.value(), cpu_.cr3(), level, functional.value(),
                env_.p2m->linear(functional).value()));
        own_.stale_walks++;
        Translation t;
        t.frame = env_.p2m->linear(functional.page_base());
        return t;
    }

    // Bare metal has no host remapping frames: gPA is where the linear map puts it, in this
    // VM's own range (deduplication, if any, is invisible here).
    void check(GuestVirt va, HostPhys hpa, GuestPhys functional, bool write) const {
        check_oracle("native", env_, va, functional, hpa, env_.p2m->linear(functional), false,
                     write, true);
    }

    BackendEnv env_;
    mutable BackendCounters counters_; // details filled from own_ when read
    NativeCounters own_;
    GuestCpu cpu_;
    TlbHierarchy tlb_;
    GuestPwc pwc_;
    CacheHierarchy caches_; // after counters_, whose caches part it marks as modelled
    // The other vCPUs' paging state, TLBs and walk caches (the members above: the running one's).
    struct VcpuState {
        GuestCpu cpu;
        TlbHierarchy tlb;
        GuestPwc pwc;
    };
    ParkedVcpus<VcpuState> vcpus_;
};

const bool registered = register_backend(
    "native", [](const BackendEnv& env) { return std::make_unique<NativeBackend>(env); });

} // namespace
} // namespace vmmu
