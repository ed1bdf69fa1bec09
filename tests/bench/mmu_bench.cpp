// Micro-benchmarks of the MMU models on hand-built guest tables (tests/mmu_fixtures.h): TLB
// lookups, native and shadow walks, and the shadow MMU's handling of a guest page-table write.
// Each reports ns per operation; walk benchmarks also report walks and refs per access so a
// reader can see the benchmark measured what its name says.
#include "tests/mmu_fixtures.h"

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

namespace vmmu {
namespace {
using testing::read_of;

constexpr uint64_t kRw = x86::kPteW | x86::kPteU;
constexpr GuestVirt kHeap{0x10'0000'0000}; // user heap base of the suggested guest map
constexpr GuestPhys kData{0x200'0000};     // data frames start at 32 MiB

// `pages` 4K pages from kHeap, backed by a 16 MiB window of data frames, in a shuffled order so
// that nearly every access misses a 512-entry STLB.
struct PageSet {
    std::vector<std::pair<GuestVirt, GuestPhys>> order;
    PageSet(testing::Machine& m, uint64_t pages) {
        for (uint64_t i = 0; i < pages; ++i) {
            GuestVirt va = kHeap + (i << 12);
            GuestPhys pa = kData + ((i % 4096) << 12);
            m.tables.map(m.root, va, pa, 12, kRw);
            order.emplace_back(va, pa);
        }
        std::mt19937_64 rng(42);
        std::shuffle(order.begin(), order.end(), rng);
    }
};

void walk_counters(benchmark::State& state, const BackendCounters& c, uint64_t accesses) {
    state.counters["walks/access"] = double(c.walks.walks) / double(accesses);
    state.counters["refs/walk"] = c.walks.walks ? double(c.walks.refs) / double(c.walks.walks) : 0;
    state.counters["exits"] = double(c.exits.total());
}

void BM_TlbLookupHit(benchmark::State& state) {
    TlbCounters counters;
    TlbHierarchy tlb(testing::test_profile().tlb, &counters);
    Translation t;
    t.frame = HostPhys(0x1'4200'0000); // any host frame: the benchmark measures the lookup
    tlb.fill(kHeap, t, false);
    for (auto _ : state) benchmark::DoNotOptimize(tlb.lookup(kHeap + 8, false));
    state.counters["l1d_misses"] = double(counters.l1d_misses);
}
BENCHMARK(BM_TlbLookupHit);

void BM_TlbLookupMiss(benchmark::State& state) {
    TlbCounters counters;
    TlbHierarchy tlb(testing::test_profile().tlb, &counters);
    // Fill every way so each probe compares a full set, then look up pages never filled.
    Translation t;
    for (uint64_t i = 0; i < 4096; ++i) tlb.fill(kHeap + (i << 12), t, false);
    GuestVirt va(kHeap + (uint64_t{1} << 32));
    for (auto _ : state) {
        benchmark::DoNotOptimize(tlb.lookup(va, false));
        va += 4096;
    }
    state.counters["stlb_miss_rate"] = double(counters.stlb_misses) / double(counters.stlb_lookups);
}
BENCHMARK(BM_TlbLookupMiss);

// Random accesses over 64K pages: a TLB miss and a walk nearly every time.
void walk_bench(benchmark::State& state, const char* backend, bool pwc) {
    testing::Machine m(256ull << 20);
    m.env.pwc = pwc;
    PageSet pages(m, 65536);
    auto b = m.make(backend);
    // One untimed pass builds whatever the scheme builds lazily (shadow tables).
    for (auto& [va, pa] : pages.order) b->on_access(read_of(va, pa));
    BackendCounters before = b->counters();
    size_t i = 0;
    uint64_t n = 0;
    for (auto _ : state) {
        auto& [va, pa] = pages.order[i];
        b->on_access(read_of(va, pa));
        i = (i + 1) & (pages.order.size() - 1);
        ++n;
    }
    BackendCounters c = b->counters();
    c.walks.walks -= before.walks.walks;
    c.walks.refs -= before.walks.refs;
    for (size_t r = 0; r < c.exits.by_reason.size(); ++r)
        c.exits.by_reason[r] -= before.exits.by_reason[r];
    walk_counters(state, c, n);
}
void BM_NativeWalk(benchmark::State& s) { walk_bench(s, "native", s.range(0)); }
void BM_ShadowWalk(benchmark::State& s) { walk_bench(s, "shadow", s.range(0)); }
BENCHMARK(BM_NativeWalk)->ArgName("pwc")->Arg(0)->Arg(1);
BENCHMARK(BM_ShadowWalk)->ArgName("pwc")->Arg(0)->Arg(1);

// A guest rewriting one PTE of a shadowed (write-protected) table, then touching the page: with
// unsync=0 every write is an emulated exit; with unsync=1 the leaf table goes out of sync once.
void BM_ShadowPtWrite(benchmark::State& state) {
    testing::Machine m;
    m.env.options = {{"unsync", state.range(0) ? "1" : "0"}};
    m.tables.map(m.root, kHeap, kData, 12, kRw);
    m.tables.map(m.root, kHeap + 0x1000, kData + 0x1000, 12, kRw);
    auto b = m.make("shadow");
    m.tables.on_write = [&](GuestPhys e, uint64_t old_value, uint64_t new_value) {
        b->on_pt_write(0, e, old_value, new_value, 8);
    };
    b->on_access(read_of(kHeap, kData));
    b->on_access(read_of(kHeap + 0x1000, kData + 0x1000));
    GuestPhys frames[2] = {kData + 0x2000, kData + 0x3000};
    unsigned k = 0;
    for (auto _ : state) {
        m.tables.map(m.root, kHeap + 0x1000, frames[k], 12, kRw);
        b->on_invlpg(0, kHeap + 0x1000);
        b->on_access(read_of(kHeap + 0x1000, frames[k]));
        k ^= 1;
    }
    state.counters["exits/write"] =
        double(b->counters().exits.total()) / double(state.iterations());
}
BENCHMARK(BM_ShadowPtWrite)->ArgName("unsync")->Arg(0)->Arg(1);

} // namespace
} // namespace vmmu
