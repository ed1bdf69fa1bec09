// Ideal: a perfect TLB that never misses, the lower bound every scheme is compared with. Every
// fetch and access is an L1 hit (counted as a lookup), so there are no walks, no walk
// references and no VM exits: the cycles are the base cycles only (docs/NEW-SCHEME.md).
#include "engine/mmu/registry.h"
#include "engine/mmu/cache.h"
#include "engine/mmu/cost.h"
#include "engine/mmu/oracle.h"
#include "engine/mmu/translate.h"

#include <stdexcept>

namespace vmmu {
namespace {

class IdealBackend final : public Backend {
public:
    explicit IdealBackend(const BackendEnv& env) : env_(checked(env)) {
        caches_ =
            backend_caches(env.caches, env.profile->caches, env.price_data, &counters_.caches);
    }

    std::string name() const override { return "ideal"; }
    bool runs_under_hypervisor() const override { return false; }

    void on_access(const DataAccess& a) override {
        counters_.tlb.l1d_lookups++;
        translate(a.va, a.pa, a.write);
        // No walks, but the same data stream: its data misses are priced like the others'.
        if (caches_.enabled()) caches_.data(env_.p2m->linear(a.pa));
    }
    void on_fetch(const Fetch& f) override {
        // One lookup per 4K page the block touches, as native counts them.
        for_each_fetch_page(f, [this](GuestVirt va, GuestPhys pa) {
            counters_.tlb.l1i_lookups++;
            translate(va, pa, false);
        });
    }
    // k more passes hit the same pages the first pass translated and checked: the lookup counts
    // grow by what k replays would add (engine/mmu/translate.h, repeat_loop), and the caches see
    // every pass's data accesses at their own offsets.
    void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) override {
        for (const BlockEvents& b : body) {
            uint64_t pages = 0;
            for_each_fetch_page(b.fetch, [&](GuestVirt, GuestPhys) { ++pages; });
            counters_.tlb.l1i_lookups += k * pages;
            counters_.tlb.l1d_lookups += k * b.accesses.size();
        }
        if (caches_.enabled())
            caches_.data_passes(body, 0, k, [this](GuestPhys pa) { return env_.p2m->linear(pa); });
    }

    // A perfect TLB is always coherent and never flushed: nothing to model, on any vCPU.
    bool models_vcpus() const override { return true; }
    void on_cr3_write(uint64_t, uint64_t) override {}
    void on_cr4_write(uint64_t, uint64_t) override {}
    void on_invlpg(uint64_t, GuestVirt) override {}
    void on_guest_fault(uint64_t, uint8_t, GuestVirt, uint32_t) override {}
    void on_pt_write(uint64_t, GuestPhys, uint64_t, uint64_t, uint8_t) override {}
    void on_timer(uint64_t) override {}
    void on_syscall(uint64_t) override {}
    void on_hlt(uint64_t) override {}
    void on_io(uint64_t, uint16_t, bool) override {}
    void on_sensitive(uint64_t, std::string_view) override {}
    // Counted as native counts it (the multi-VM table shows it); it costs nothing here.
    void on_world_switch() override { world_switches_++; }
    // No host behind a perfect TLB: deduplication is invisible, as for native.
    void on_host_remap(GuestPhys, HostRemap) override {}

    const BackendCounters& counters() const override {
        report_nonzero(counters_.details, "world_switches", world_switches_);
        return counters_;
    }
    CycleBreakdown cycles(uint64_t guest_instructions) const override {
        return compute_cycles(counters(), *env_.profile, guest_instructions);
    }

private:
    static const BackendEnv& checked(const BackendEnv& env) {
        if (!env.p2m || !env.profile)
            throw std::invalid_argument("ideal backend needs p2m and profile");
        return env;
    }

    // The entry a perfect TLB holds: the 4K frame under the functional gPA, in the static layout
    // (no host, as for native), plus the offset of the gVA in its page, as hardware forms it.
    void translate(GuestVirt va, GuestPhys pa, bool write) const {
        if (!env_.oracle) return;
        HostPhys hpa = env_.p2m->linear(pa.page_base()) + va.page_offset();
        check_oracle("ideal", env_, va, pa, hpa, env_.p2m->linear(pa), false, write, true);
    }

    BackendEnv env_;
    mutable BackendCounters counters_; // details filled when read
    uint64_t world_switches_ = 0;
    CacheHierarchy caches_;
};

const bool registered = register_backend(
    "ideal", [](const BackendEnv& env) { return std::make_unique<IdealBackend>(env); });

} // namespace
} // namespace vmmu
