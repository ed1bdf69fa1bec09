// The cache hierarchy model (engine/mmu/cache.*) on hand-built access streams: set conflicts,
// LRU order, inclusion, the walker's L1D lookup and the pollution count.
#include "engine/mmu/cache.h"

#include <gtest/gtest.h>

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
