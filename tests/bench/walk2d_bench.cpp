// The SLAT two-dimensional walk (engine/mmu/walker2d.h) on hand-built guest tables over a fully
// built EPT: cold (no caches: 24 references a walk) and warm (guest PWC, nested PWC and nested
// TLB as the profile has them). The target: a warm 2D walk under 100 ns.
#include "engine/mmu/profile.h"
#include "engine/mmu/walker2d.h"
#include "tests/mmu_fixtures.h"

#include <benchmark/benchmark.h>

#include <vector>

namespace vmmu {
namespace {

constexpr uint64_t kRw = x86::kPteW | x86::kPteU;
constexpr GuestVirt kHeap{0x10'0000'0000};
constexpr GuestPhys kData{0x200'0000};

struct Fixture {
    testing::Machine m{64ull << 20};
    EptTables ept{m.p2m, m.memory.size(), 12};
    WalkCounters counters;
    std::vector<GuestVirt> vas;

    // `pages` consecutive 4K pages from kHeap; the EPT maps every guest frame up front, so no
    // walk stops at an EPT violation.
    explicit Fixture(uint64_t pages) {
        for (uint64_t i = 0; i < pages; ++i) {
            m.tables.map(m.root, kHeap + (i << 12), kData + (i << 12), 12, kRw);
            vas.push_back(kHeap + (i << 12) + 0x18);
        }
        for (uint64_t pa = 0; pa < m.memory.size(); pa += 4096) ept.map(GuestPhys(pa));
    }
    Walker2dConfig config(bool warm) const {
        Walker2dConfig c;
        if (warm) {
            c.guest_pwc = m.prof.pwc;
            if (m.prof.nested_pwc) c.nested_pwc = m.prof.pwc_nested;
            if (m.prof.ntlb) c.ntlb = m.prof.ntlb_geometry;
        }
        return c;
    }
};

void run(benchmark::State& state, Fixture& f, Walker2d& w) {
    size_t i = 0;
    uint64_t refs = 0;
    for (auto _ : state) {
        Walk2dResult r = w.walk(f.vas[i], f.m.root, 0);
        if (r.status != Walk2dResult::Status::Ok) state.SkipWithError("walk failed");
        refs += r.refs;
        i = i + 1 == f.vas.size() ? 0 : i + 1;
    }
    state.counters["refs/walk"] = double(refs) / double(state.iterations());
}

void BM_Walk2dCold(benchmark::State& state) {
    Fixture f(512);
    Walker2d w(f.m.memory, f.ept, f.config(false), &f.counters);
    run(state, f, w);
}
BENCHMARK(BM_Walk2dCold);

// Warm: the pages of one 2 MiB region, so the guest PDE cache and the NTLB (tables and data)
// serve nearly every step; Arg = pages walked round-robin (1: the same page every time).
void BM_Walk2dWarm(benchmark::State& state) {
    Fixture f(static_cast<uint64_t>(state.range(0)));
    Walker2d w(f.m.memory, f.ept, f.config(true), &f.counters);
    for (GuestVirt va : f.vas) w.walk(va, f.m.root, 0);
    run(state, f, w);
}
BENCHMARK(BM_Walk2dWarm)->ArgName("pages")->Arg(1)->Arg(16)->Arg(512);

} // namespace
} // namespace vmmu
