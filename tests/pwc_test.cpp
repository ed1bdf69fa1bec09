#include "engine/mmu/pwc.h"

#include <gtest/gtest.h>

using namespace vmmu;

namespace {
GuestVirt gva(uint64_t v) { return GuestVirt(v); }
GuestPhys gpa(uint64_t v) { return GuestPhys(v); }
} // namespace

// A guest walk's cache hands back guest tables (gPAs); a nested walk's, EPT tables (hPAs).
template <class Cache, class In>
concept LooksUp = requires(Cache& c, In a) {
    c.lookup(a, 0);
};
template <class Cache, class Table>
concept Fills = requires(Cache& c, Table t) {
    c.fill(typename Cache::In{}, 2, t, 0);
};
static_assert(LooksUp<GuestPwc, GuestVirt> && !LooksUp<GuestPwc, GuestPhys>);
static_assert(LooksUp<NestedPwc, GuestPhys> && !LooksUp<NestedPwc, GuestVirt>);
static_assert(Fills<GuestPwc, GuestPhys> && !Fills<GuestPwc, HostPhys>);

TEST(PageWalkCache, EmptyCacheMissesAndCountsTheLookup) {
    WalkCounters c;
    GuestPwc pwc({2, 4, 8}, &c);
    EXPECT_FALSE(pwc.lookup(gva(0x7fff12345000), 0).hit());
    EXPECT_EQ(c.pwc_lookups, 1u);
    EXPECT_EQ(c.pwc_hits, 0u);
}

TEST(PageWalkCache, DeepestCachedLevelWins) {
    WalkCounters c;
    GuestPwc pwc({2, 4, 8}, &c);
    GuestVirt va(0x7fff12345000);
    pwc.fill(va, 4, gpa(0x1000), 0); // PML4E -> PDPT at 0x1000
    GuestPwc::Probe p = pwc.lookup(va, 0);
    EXPECT_EQ(p.level, 3);
    EXPECT_EQ(p.table, gpa(0x1000));
    pwc.fill(va, 2, gpa(0x3000), 0); // PDE -> PT at 0x3000
    p = pwc.lookup(va, 0);
    EXPECT_EQ(p.level, 1);
    EXPECT_EQ(p.table, gpa(0x3000));
    // Another 2M region under the same PML4E only matches the PML4E entry.
    p = pwc.lookup(va + (1 << 21), 0);
    EXPECT_EQ(p.level, 3);
    EXPECT_EQ(c.pwc_hits, 3u);
}

TEST(PageWalkCache, FlagsComeBackWithTheTable) {
    GuestPwc pwc({0, 0, 4}, nullptr);
    pwc.fill(gva(0x200000), 2, gpa(0x5000), 0, 6);
    GuestPwc::Probe p = pwc.lookup(gva(0x200000), 0);
    EXPECT_EQ(p.table, gpa(0x5000));
    EXPECT_EQ(p.flags, 6);
}

TEST(PageWalkCache, NestedCacheIsTaggedByGuestPhysicalAddress) {
    NestedPwc pwc({0, 0, 4}, nullptr);
    pwc.fill(gpa(0x40200000), 2, HostPhys(0x1'4000'5000), 0);
    NestedPwc::Probe p = pwc.lookup(gpa(0x40201000), 0);
    ASSERT_TRUE(p.hit());
    EXPECT_EQ(p.table, HostPhys(0x1'4000'5000));
    EXPECT_FALSE(pwc.lookup(gpa(0x40400000), 0).hit());
}

TEST(PageWalkCache, ContextsAreSeparateAndFlushable) {
    GuestPwc pwc({0, 0, 4}, nullptr);
    pwc.fill(gva(0x200000), 2, gpa(0x5000), 1);
    EXPECT_FALSE(pwc.lookup(gva(0x200000), 2).hit());
    EXPECT_TRUE(pwc.lookup(gva(0x200000), 1).hit());
    pwc.flush_context(1);
    EXPECT_FALSE(pwc.lookup(gva(0x200000), 1).hit());
}

TEST(PageWalkCache, LeastRecentlyUsedEntryIsReplaced) {
    GuestPwc pwc({0, 0, 2}, nullptr);
    pwc.fill(gva(0 << 21), 2, gpa(0xa000), 0);
    pwc.fill(gva(1 << 21), 2, gpa(0xb000), 0);
    EXPECT_TRUE(pwc.lookup(gva(0), 0).hit()); // region 1 is now LRU
    pwc.fill(gva(2 << 21), 2, gpa(0xc000), 0);
    EXPECT_FALSE(pwc.lookup(gva(1 << 21), 0).hit());
    EXPECT_TRUE(pwc.lookup(gva(0), 0).hit());
    EXPECT_TRUE(pwc.lookup(gva(2 << 21), 0).hit());
}

TEST(PageWalkCache, DisabledLevelsNeverHit) {
    GuestPwc pwc({0, 0, 0}, nullptr);
    EXPECT_FALSE(pwc.enabled());
    pwc.fill(gva(0x1000), 2, gpa(0x2000), 0);
    EXPECT_FALSE(pwc.lookup(gva(0x1000), 0).hit());
}
