#include "engine/mmu/pwc.h"

#include <gtest/gtest.h>

using namespace vmmu;

TEST(PageWalkCache, EmptyCacheMissesAndCountsTheLookup) {
    WalkCounters c;
    PageWalkCache pwc({2, 4, 8}, &c);
    EXPECT_FALSE(pwc.lookup(0x7fff12345000, 0).hit());
    EXPECT_EQ(c.pwc_lookups, 1u);
    EXPECT_EQ(c.pwc_hits, 0u);
}

TEST(PageWalkCache, DeepestCachedLevelWins) {
    WalkCounters c;
    PageWalkCache pwc({2, 4, 8}, &c);
    uint64_t va = 0x7fff12345000;
    pwc.fill(va, 4, 0x1000, 0); // PML4E -> PDPT at 0x1000
    PwcProbe p = pwc.lookup(va, 0);
    EXPECT_EQ(p.level, 3);
    EXPECT_EQ(p.table, 0x1000u);
    pwc.fill(va, 2, 0x3000, 0); // PDE -> PT at 0x3000
    p = pwc.lookup(va, 0);
    EXPECT_EQ(p.level, 1);
    EXPECT_EQ(p.table, 0x3000u);
    // Another 2M region under the same PML4E only matches the PML4E entry.
    p = pwc.lookup(va + (1 << 21), 0);
    EXPECT_EQ(p.level, 3);
    EXPECT_EQ(c.pwc_hits, 3u);
}

TEST(PageWalkCache, ContextsAreSeparateAndFlushable) {
    PageWalkCache pwc({0, 0, 4}, nullptr);
    pwc.fill(0x200000, 2, 0x5000, 1);
    EXPECT_FALSE(pwc.lookup(0x200000, 2).hit());
    EXPECT_TRUE(pwc.lookup(0x200000, 1).hit());
    pwc.flush_context(1);
    EXPECT_FALSE(pwc.lookup(0x200000, 1).hit());
}

TEST(PageWalkCache, LeastRecentlyUsedEntryIsReplaced) {
    PageWalkCache pwc({0, 0, 2}, nullptr);
    pwc.fill(0 << 21, 2, 0xa000, 0);
    pwc.fill(1 << 21, 2, 0xb000, 0);
    EXPECT_TRUE(pwc.lookup(0, 0).hit()); // region 1 is now LRU
    pwc.fill(2 << 21, 2, 0xc000, 0);
    EXPECT_FALSE(pwc.lookup(1 << 21, 0).hit());
    EXPECT_TRUE(pwc.lookup(0, 0).hit());
    EXPECT_TRUE(pwc.lookup(2 << 21, 0).hit());
}

TEST(PageWalkCache, DisabledLevelsNeverHit) {
    PageWalkCache pwc({0, 0, 0}, nullptr);
    EXPECT_FALSE(pwc.enabled());
    pwc.fill(0x1000, 2, 0x2000, 0);
    EXPECT_FALSE(pwc.lookup(0x1000, 0).hit());
}
