// The cache hierarchy model (engine/mmu/cache.*) on hand-built access streams: set conflicts,
// LRU order, inclusion, the walker's L1D lookup and the pollution count.
#include "engine/mmu/cache.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <list>
#include <random>
#include <span>
#include <vector>

using namespace vmmu;

namespace {
constexpr uint64_t kLine = 64;

// 1 KiB 2-way L1 (8 sets), 4 KiB 4-way L2 (16 sets), 16 KiB 4-way LLC (64 sets).
CacheConfig small(bool inclusive, bool walker_l1d = true) {
    CacheConfig c;
    c.l1d = {1, 2, 4};
    c.l2 = {4, 4, 10};
    c.llc = {16, 4, 40};
    c.llc_inclusive = inclusive;
    c.memory_latency = 200;
    c.walker_uses_l1d = walker_l1d;
    return c;
}

HostPhys line(uint64_t n) { return HostPhys(n * kLine); }

struct Fixture {
    explicit Fixture(const CacheConfig& c) : caches(c, false, &counters) {}
    CacheCounters counters;
    CacheHierarchy caches;
    CacheLevel walk(uint64_t n) { return caches.walk(line(n), WalkDimension::Guest); }
};
} // namespace

TEST(CacheHierarchy, ColdReferenceComesFromMemoryThenHitsL1) {
    Fixture f(small(false));
    EXPECT_EQ(f.walk(5), CacheLevel::Memory);
    EXPECT_EQ(f.walk(5), CacheLevel::L1);
    // Another word of the same line is the same line.
    EXPECT_EQ(f.caches.walk(HostPhys(5 * kLine + 56), WalkDimension::Nested), CacheLevel::L1);
    EXPECT_EQ(f.counters.walk[0][3], 1u);
    EXPECT_EQ(f.counters.walk[0][0], 1u);
    EXPECT_EQ(f.counters.walk[1][0], 1u);
    EXPECT_TRUE(f.counters.modelled);
}

TEST(CacheHierarchy, ThirdLineOfATwoWaySetEvictsTheLeastRecentlyUsed) {
    Fixture f(small(false));
    // Lines 0, 8, 16 share L1 set 0 (8 sets); L2 has 16 sets, so 0 and 16 share its set 0.
    f.walk(0);
    f.walk(8);
    f.walk(0); // 0 is now the most recent: 8 is the LRU way
    f.walk(16);
    EXPECT_EQ(f.walk(0), CacheLevel::L1);
    EXPECT_EQ(f.walk(8), CacheLevel::L2) << "evicted from L1 as least recently used, kept in L2";
}

TEST(CacheHierarchy, LinesInDifferentSetsNeverConflict) {
    Fixture f(small(false));
    for (uint64_t n = 0; n < 16; ++n) f.walk(n); // 16 lines over 8 sets × 2 ways: all fit
    for (uint64_t n = 0; n < 16; ++n) EXPECT_EQ(f.walk(n), CacheLevel::L1) << n;
}

TEST(CacheHierarchy, L2MissServedByLlcAfterL2SetConflict) {
    Fixture f(small(false));
    // L2 set 0 (16 sets, 4 ways): lines 0, 16, 32, 48, 64 — the fifth evicts line 0 from L2;
    // L1 (set 0, 2 ways) holds only the last two.
    for (uint64_t n : {0, 16, 32, 48, 64}) f.walk(n);
    EXPECT_EQ(f.walk(0), CacheLevel::Llc);
}

TEST(CacheHierarchy, InclusiveLlcEvictionBackInvalidatesL1) {
    for (bool inclusive : {true, false}) {
        Fixture f(small(inclusive));
        // LLC set 0 (64 sets, 4 ways): lines 0, 64, 128, 192, 256. Keep line 0 hot in L1 by
        // data hits (L1 hits do not refresh the LLC's LRU), then overflow the LLC set.
        f.walk(0);
        for (uint64_t n : {64, 128, 192}) {
            f.walk(n);
            f.caches.data(line(0));
        }
        f.walk(256); // the LLC's LRU is line 0
        EXPECT_EQ(f.walk(0), inclusive ? CacheLevel::Memory : CacheLevel::L1)
            << (inclusive ? "inclusive" : "non-inclusive");
    }
}

TEST(CacheHierarchy, WalkerThatSkipsL1DStartsAtL2AndDoesNotFillL1) {
    Fixture f(small(false, false));
    EXPECT_EQ(f.walk(3), CacheLevel::Memory);
    EXPECT_EQ(f.walk(3), CacheLevel::L2);
    f.caches.data(line(3));
    EXPECT_EQ(f.counters.data[1], 1u) << "the walk's fill skipped L1D";
    EXPECT_EQ(f.walk(3), CacheLevel::L2) << "even a line data brought into L1D";
}

TEST(CacheHierarchy, DataMissOnALineAWalkEvictedCountsAsPollution) {
    Fixture f(small(false));
    f.caches.data(line(0));
    f.caches.data(line(8)); // L1 set 0 full of data
    f.walk(16);             // evicts line 0 (LRU) from L1
    f.caches.data(line(0)); // misses L1 because of the walk
    EXPECT_EQ(f.counters.data_misses_from_walks[0], 1u);
    EXPECT_EQ(f.counters.data[1], 1u) << "served by L2";
    // A data access evicting data is no pollution.
    f.caches.data(line(24));
    f.caches.data(line(32));
    f.caches.data(line(8));
    EXPECT_EQ(f.counters.data_misses_from_walks[0], 1u);
}

TEST(CacheHierarchy, PenrynShapeWithoutL2GoesFromL1ToLlc) {
    CacheConfig c = small(false);
    c.l2 = {};
    Fixture f(c);
    for (uint64_t n : {0, 8, 16}) f.walk(n);
    EXPECT_EQ(f.walk(0), CacheLevel::Llc);
    EXPECT_EQ(f.counters.walk_at(CacheLevel::L2), 0u);
}

TEST(CacheGeometry, NonPowerOfTwoSetsAndZeroWaysAreProblems) {
    EXPECT_EQ(cache_level_problem({32, 8, 4}, 64), "");
    EXPECT_EQ(cache_level_problem({6144, 24, 15}, 64), "") << "24 ways, 4096 sets";
    EXPECT_NE(cache_level_problem({48, 8, 4}, 64).find("power of two"), std::string::npos);
    EXPECT_NE(cache_level_problem({32, 0, 4}, 64).find("ways"), std::string::npos);
    EXPECT_NE(cache_level_problem({1, 32, 4}, 64).find("whole number"), std::string::npos);
}

namespace {
// A reference hierarchy written plainly from the model's definition (cache.h): each set a list
// of lines, most recent first; lookups from L1 (or L2) down, the levels that missed filled the
// farthest first, an inclusive LLC's victim removed above, the last line a walk's fill evicted
// remembered per set.
struct RefLevel {
    std::vector<std::list<uint64_t>> sets;
    std::vector<uint64_t> walk_victim;
    uint32_t ways = 0;
    RefLevel() = default;
    RefLevel(uint32_t n_sets, uint32_t w) : sets(n_sets), walk_victim(n_sets, ~0ull), ways(w) {}
    std::list<uint64_t>& set(uint64_t line) { return sets[line % sets.size()]; }
    bool lookup(uint64_t line) {
        auto& s = set(line);
        for (auto it = s.begin(); it != s.end(); ++it)
            if (*it == line) {
                s.erase(it);
                s.push_front(line);
                return true;
            }
        return false;
    }
    uint64_t fill(uint64_t line, bool by_walk) {
        auto& s = set(line);
        uint64_t victim = ~0ull;
        if (s.size() == ways) {
            victim = s.back();
            s.pop_back();
            if (by_walk) walk_victim[line % sets.size()] = victim;
        }
        s.push_front(line);
        return victim;
    }
    void invalidate(uint64_t line) { set(line).remove(line); }
    bool take_walk_victim(uint64_t line) {
        uint64_t& v = walk_victim[line % sets.size()];
        if (v != line) return false;
        v = ~0ull;
        return true;
    }
};

struct RefHierarchy {
    CacheConfig config;
    CacheCounters counters;
    RefLevel l1, l2, llc;
    bool has_l2;
    static RefLevel make(const CacheLevelConfig& c) {
        if (!c.present()) return {};
        uint32_t lines = c.size_kib * 1024 / 64;
        return RefLevel(lines / c.ways, c.ways);
    }
    explicit RefHierarchy(const CacheConfig& c)
        : config(c), l1(make(c.l1d)), l2(make(c.l2)), llc(make(c.llc)), has_l2(c.l2.present()) {}
    CacheLevel access(uint64_t line, bool walk_ref, bool from_l1) {
        std::array<RefLevel*, 3> levels = {from_l1 ? &l1 : nullptr, has_l2 ? &l2 : nullptr, &llc};
        size_t hit = 3;
        for (size_t i = 0; i < 3; ++i) {
            if (!levels[i]) continue;
            if (levels[i]->lookup(line)) {
                hit = i;
                break;
            }
            if (levels[i]->take_walk_victim(line) && !walk_ref)
                counters.data_misses_from_walks[i]++;
        }
        for (size_t i = hit; i-- > 0;) {
            if (!levels[i]) continue;
            uint64_t victim = levels[i]->fill(line, walk_ref);
            if (i == 2 && config.llc_inclusive && victim != ~0ull) {
                l1.invalidate(victim);
                if (has_l2) l2.invalidate(victim);
            }
        }
        return static_cast<CacheLevel>(hit);
    }
    void data(uint64_t hpa) { counters.data[static_cast<size_t>(access(hpa / 64, false, true))]++; }
    CacheLevel walk(uint64_t hpa, WalkDimension dim) {
        CacheLevel l = access(hpa / 64, true, config.walker_uses_l1d);
        counters.walk[static_cast<size_t>(dim)][static_cast<size_t>(l)]++;
        return l;
    }
};

void expect_same(const CacheCounters& a, const CacheCounters& b, const std::string& where) {
    EXPECT_EQ(a.data, b.data) << where;
    EXPECT_EQ(a.walk, b.walk) << where;
    EXPECT_EQ(a.data_misses_from_walks, b.data_misses_from_walks) << where;
}

// A level of `sets` sets of `ways` ways (64-byte lines).
CacheLevelConfig level(uint32_t sets, uint32_t ways, double latency) {
    return {sets * ways * 64 / 1024, ways, latency};
}

// A loop body for data_passes(): blocks of accesses in a few pages, with each pass's offsets.
struct Body {
    std::vector<std::vector<DataAccess>> accesses;
    std::vector<std::vector<uint16_t>> offsets;
    std::vector<BlockEvents> blocks;
    void finish() {
        blocks.clear();
        for (size_t b = 0; b < accesses.size(); ++b)
            blocks.push_back({Fetch{}, accesses[b], offsets[b]});
    }
};
constexpr uint64_t kHostBase = 0x40000000; // page_hpa(pa) = pa + kHostBase
} // namespace

// The array's scans compare four ways at once, its moves shift four at once when the ways are a
// multiple of four (scalar otherwise), and data_passes() skips the passes that repeat an all-MRU
// pass's lines: against the plain reference, on random streams of data accesses, walk
// references and loop bodies, under geometries with 1 to 24 ways, with and without L2, inclusive
// or not, with and without the walker's L1D lookup. Every returned level and counter agrees.
TEST(CacheHierarchy, AgreesWithAPlainListModelOnRandomStreams) {
    std::mt19937_64 rng(20261206);
    const std::array<uint32_t, 9> way_choices = {1, 2, 3, 4, 5, 8, 12, 16, 24};
    for (int config_no = 0; config_no < 24; ++config_no) {
        auto ways = [&] { return way_choices[rng() % way_choices.size()]; };
        CacheConfig c;
        c.l1d = level(16, ways(), 4);
        if (config_no % 3 != 2) c.l2 = level(32, ways(), 10);
        c.llc = level(64, ways(), 40);
        c.llc_inclusive = config_no % 2 == 0;
        c.walker_uses_l1d = config_no % 4 != 3;
        c.memory_latency = 200;
        CacheCounters counters;
        CacheHierarchy model(c, false, &counters);
        RefHierarchy ref(c);
        const std::string where = "config " + std::to_string(config_no);
        // Lines from a pool a few times the LLC's size, so that every level hits and misses.
        const uint64_t pool_lines = 64 * 24 * 3;
        for (int op = 0; op < 4000; ++op) {
            const unsigned kind = rng() % 8;
            if (kind < 3) {
                uint64_t hpa = (rng() % pool_lines) * 64 + rng() % 64;
                model.data(HostPhys(hpa));
                ref.data(hpa);
            } else if (kind < 6) {
                uint64_t hpa = (rng() % pool_lines) * 64 + (rng() % 8) * 8;
                auto dim = static_cast<WalkDimension>(rng() % 3);
                ASSERT_EQ(model.walk(HostPhys(hpa), dim), ref.walk(hpa, dim)) << where;
            } else {
                // A body of 1 to 3 blocks of 0 to 4 accesses each, k passes whose offsets repeat
                // lines for a while (the same offset, a stride inside a line, or a new line).
                Body body;
                const size_t blocks = 1 + rng() % 3;
                const uint64_t k = 1 + rng() % 40;
                for (size_t b = 0; b < blocks; ++b) {
                    const size_t m = rng() % 5;
                    std::vector<DataAccess> acc;
                    for (size_t i = 0; i < m; ++i) {
                        uint64_t page = rng() % (pool_lines / 64);
                        acc.push_back({GuestVirt(page << 12),
                                       GuestPhys((page << 12) + rng() % 4096), 8, false, false});
                    }
                    std::vector<uint16_t> off;
                    if (rng() % 4 != 0) {
                        std::vector<uint16_t> cur(m);
                        for (size_t i = 0; i < m; ++i)
                            cur[i] = static_cast<uint16_t>(acc[i].pa.page_offset());
                        for (uint64_t p = 0; p < k; ++p) {
                            for (size_t i = 0; i < m; ++i) {
                                unsigned step = rng() % 6;
                                if (step == 0)
                                    cur[i] = static_cast<uint16_t>(rng() % 4096);
                                else if (step == 1)
                                    cur[i] = static_cast<uint16_t>((cur[i] + 8) % 4096);
                                off.push_back(cur[i]);
                            }
                        }
                    }
                    body.accesses.push_back(std::move(acc));
                    body.offsets.push_back(std::move(off));
                }
                body.finish();
                const uint64_t from = rng() % k;
                model.data_passes(body.blocks, from, k,
                                  [](GuestPhys pa) { return HostPhys(pa.value() + kHostBase); });
                for (uint64_t p = from; p < k; ++p)
                    for (const BlockEvents& b : body.blocks)
                        for (size_t i = 0; i < b.accesses.size(); ++i)
                            ref.data(b.access(p, i).pa.value() + kHostBase);
            }
            expect_same(counters, ref.counters, where + " op " + std::to_string(op));
            if (::testing::Test::HasFailure()) return;
        }
    }
}

// The passes data_passes() counts without feeding are exactly those that repeat, access by
// access, the lines of a pass that was all MRU hits; feeding every pass through data() gives the
// same counters and leaves the same state (the next references hit and miss alike). Three
// accesses to one set of the 2-way L1 are never all MRU hits (they evict each other every pass,
// and L2 serves them), so every such pass must be fed.
TEST(CacheHierarchy, SkippedLoopPassesCountAsFeedingEachOne) {
    const CacheConfig c = small(true);
    // shape 0: one access striding 8 bytes (8 passes a line); 1: two accesses in different L1
    // sets at fixed offsets; 2: three accesses in L1 set 0 (8 sets) at fixed offsets.
    const std::vector<std::vector<uint64_t>> shapes = {
        {0x1000}, {0x1000, 0x2040}, {0x1000, 0x2200, 0x2400}};
    for (size_t shape = 0; shape < shapes.size(); ++shape) {
        CacheCounters skipped_counters, fed_counters;
        CacheHierarchy skipped(c, false, &skipped_counters), fed(c, false, &fed_counters);
        const uint64_t k = 64;
        std::vector<DataAccess> acc;
        for (uint64_t pa : shapes[shape])
            acc.push_back({GuestVirt(pa), GuestPhys(pa), 8, false, false});
        std::vector<uint16_t> off;
        for (uint64_t p = 0; p < k; ++p)
            for (const DataAccess& a : acc)
                off.push_back(static_cast<uint16_t>(a.pa.page_offset() + (shape == 0 ? p * 8 : 0)));
        Body body;
        body.accesses.push_back(acc);
        body.offsets.push_back(off);
        body.finish();
        skipped.data_passes(body.blocks, 0, k, [](GuestPhys pa) { return HostPhys(pa.value()); });
        for (uint64_t p = 0; p < k; ++p)
            for (size_t i = 0; i < acc.size(); ++i)
                fed.data(HostPhys(body.blocks[0].access(p, i).pa.value()));
        const std::string where = "shape " + std::to_string(shape);
        expect_same(skipped_counters, fed_counters, where);
        if (shape == 2)
            EXPECT_EQ(skipped_counters.data[1], (k - 1) * 3) << "L1 thrashes, L2 serves";
        for (uint64_t n : {0x1000, 0x1040, 0x2000, 0x2040, 0x2200, 0x2400, 0x3000})
            EXPECT_EQ(skipped.walk(HostPhys(n), WalkDimension::Guest),
                      fed.walk(HostPhys(n), WalkDimension::Guest))
                << where << " line " << n;
    }
}
