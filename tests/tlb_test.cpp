#include "engine/mmu/tlb.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

using namespace vmmu;

namespace {
GuestVirt gva(uint64_t v) { return GuestVirt(v); }

Translation page(uint64_t frame, unsigned shift = 12, bool global = false) {
    Translation t;
    t.frame = HostPhys(frame);
    t.page_shift = static_cast<uint8_t>(shift);
    t.global = global;
    return t;
}

TlbHierarchyConfig small_config() {
    TlbHierarchyConfig c;
    c.l1i = {8, 2};
    c.l1d_4k = {8, 2};
    c.l1d_large = {4, 4};
    c.stlb = {32, 4};
    c.stlb_holds_2m = true;
    return c;
}
} // namespace

// The TLB takes a gVA and yields an hPA; a gPA or an hPA where a gVA belongs does not compile.
template <class A>
concept TlbLooksUp = requires(TlbHierarchy& h, A a) {
    h.lookup(a, false);
};
template <class A>
concept TlbInvalidates = requires(TlbHierarchy& h, A a) {
    h.invlpg(a);
};
template <class A>
concept Translates = requires(const Translation& t, A a) {
    t.host(a);
};
static_assert(TlbLooksUp<GuestVirt> && !TlbLooksUp<GuestPhys> && !TlbLooksUp<uint64_t>);
static_assert(TlbInvalidates<GuestVirt> && !TlbInvalidates<HostPhys>);
static_assert(Translates<GuestVirt> && Translates<GuestPhys> && !Translates<HostPhys>);
static_assert(!std::is_convertible_v<GuestPhys, HostPhys> &&
              !std::is_convertible_v<uint64_t, GuestVirt>);

TEST(TlbArray, MissThenHitAfterFill) {
    GuestTlbArray a({16, 4}, kSize4K);
    EXPECT_EQ(a.lookup(gva(0x1234), 0, 0), nullptr);
    a.fill(gva(0x1234), page(0xabc000), 0, 0);
    const Translation* t = a.lookup(gva(0x1fff), 0, 0);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->host(gva(0x1234)).value(), 0xabc234u);
    EXPECT_EQ(a.lookup(gva(0x2000), 0, 0), nullptr);
}

TEST(TlbArray, LeastRecentlyUsedWayIsEvicted) {
    GuestTlbArray a({4, 4}, kSize4K); // one set, four ways
    for (uint64_t p = 0; p < 4; ++p) a.fill(gva(p << 12), page(p << 20), 0, 0);
    ASSERT_NE(a.lookup(gva(0), 0, 0), nullptr); // page 0 becomes most recent; page 1 is LRU
    a.fill(gva(4 << 12), page(4 << 20), 0, 0);
    EXPECT_EQ(a.lookup(gva(1 << 12), 0, 0), nullptr);
    for (uint64_t p : {0, 2, 3, 4}) EXPECT_NE(a.lookup(gva(p << 12), 0, 0), nullptr) << p;
}

TEST(TlbArray, SetIndexComesFromTheLowVpnBits) {
    GuestTlbArray a({8, 2}, kSize4K); // four sets
    // Pages 0, 4, 8 share set 0; page 1 is in set 1 and must survive their conflicts.
    a.fill(gva(1 << 12), page(0x100000), 0, 0);
    for (uint64_t p : {0, 4, 8}) a.fill(gva(p << 12), page(p << 20), 0, 0);
    EXPECT_NE(a.lookup(gva(1 << 12), 0, 0), nullptr);
    EXPECT_EQ(a.lookup(gva(0), 0, 0), nullptr); // evicted by 4 and 8 in a 2-way set
    EXPECT_NE(a.lookup(gva(8 << 12), 0, 0), nullptr);
}

TEST(TlbArray, RefillOfTheSamePageReplacesInsteadOfDuplicating) {
    GuestTlbArray a({4, 4}, kSize4K);
    a.fill(gva(0), page(0x1000), 0, 0);
    a.fill(gva(0), page(0x2000), 0, 0);
    EXPECT_EQ(a.valid_entries(), 1u);
    EXPECT_EQ(a.lookup(gva(0), 0, 0)->frame.value(), 0x2000u);
}

TEST(TlbArray, InvalidGeometryIsRejected) {
    EXPECT_THROW(GuestTlbArray({12, 4}, kSize4K), std::invalid_argument); // 3 sets
    EXPECT_THROW(GuestTlbArray({8, 0}, kSize4K), std::invalid_argument);
    EXPECT_NO_THROW(GuestTlbArray({1536, 12}, kSize4K)); // Skylake STLB: 128 sets of 12
}

TEST(TlbHierarchy, StlbHitRefillsTheL1) {
    TlbCounters c;
    TlbHierarchy h(small_config(), &c);
    EXPECT_EQ(h.lookup(gva(0x5000), false), nullptr);
    EXPECT_EQ(c.l1d_misses, 1u);
    EXPECT_EQ(c.stlb_misses, 1u);
    h.fill(gva(0x5000), page(0x77000), false);
    // Thrash the 2-way L1 set of page 5 (pages 1, 9, 13 share it with four sets).
    for (uint64_t p : {1, 9, 13}) h.fill(gva(p << 12), page(p << 20), false);
    ASSERT_NE(h.lookup(gva(0x5000), false), nullptr);
    EXPECT_EQ(c.l1d_misses, 2u);
    EXPECT_EQ(c.stlb_lookups, 2u);
    EXPECT_EQ(c.stlb_misses, 1u);
    ASSERT_NE(h.lookup(gva(0x5000), false), nullptr); // now an L1 hit
    EXPECT_EQ(c.stlb_lookups, 2u);
}

TEST(TlbHierarchy, FetchesUseTheInstructionTlb) {
    TlbCounters c;
    TlbHierarchy h(small_config(), &c);
    h.fill(gva(0x400000), page(0x900000), true);
    EXPECT_NE(h.lookup(gva(0x400000), true), nullptr);
    EXPECT_EQ(c.l1i_lookups, 1u);
    EXPECT_EQ(c.l1i_misses, 0u);
    // The data side misses in its L1 but finds the unified STLB entry.
    EXPECT_NE(h.lookup(gva(0x400000), false), nullptr);
    EXPECT_EQ(c.l1d_misses, 1u);
    EXPECT_EQ(c.stlb_misses, 0u);
}

TEST(TlbHierarchy, GlobalEntriesSurviveANonGlobalFlush) {
    TlbCounters c;
    TlbHierarchy h(small_config(), &c);
    h.fill(gva(0x1000), page(0x10000, 12, true), false);
    h.fill(gva(0x2000), page(0x20000), false);
    h.flush_non_global(0);
    EXPECT_NE(h.lookup(gva(0x1000), false), nullptr);
    EXPECT_EQ(h.lookup(gva(0x2000), false), nullptr);
    EXPECT_EQ(c.flushes, 1u);
    h.flush_all();
    EXPECT_EQ(h.lookup(gva(0x1000), false), nullptr);
}

TEST(TlbHierarchy, PcidTagsKeepAddressSpacesApart) {
    TlbCounters c;
    TlbHierarchy h(small_config(), &c);
    h.set_context(1, 0);
    h.fill(gva(0x3000), page(0xa000), false);
    h.set_context(2, 0);
    EXPECT_EQ(h.lookup(gva(0x3000), false), nullptr);
    h.fill(gva(0x3000), page(0xb000), false);
    h.set_context(1, 0);
    EXPECT_EQ(h.lookup(gva(0x3000), false)->frame.value(), 0xa000u);
    // Flushing PCID 2 leaves PCID 1 alone.
    h.flush_non_global(2);
    EXPECT_NE(h.lookup(gva(0x3000), false), nullptr);
    h.set_context(2, 0);
    EXPECT_EQ(h.lookup(gva(0x3000), false), nullptr);
}

TEST(TlbHierarchy, VpidTagsKeepVmsApart) {
    TlbCounters c;
    TlbHierarchy h(small_config(), &c);
    h.set_context(0, 1);
    h.fill(gva(0x3000), page(0xa000, 12, true), false);
    h.set_context(0, 2);
    EXPECT_EQ(h.lookup(gva(0x3000), false), nullptr);
    h.fill(gva(0x3000), page(0xb000), false);
    h.flush_vpid(1);
    EXPECT_NE(h.lookup(gva(0x3000), false), nullptr);
    h.set_context(0, 1);
    EXPECT_EQ(h.lookup(gva(0x3000), false), nullptr);
}

TEST(TlbHierarchy, InvlpgDropsEveryPageSizeAndEveryPcidCoveringTheAddress) {
    TlbCounters c;
    TlbHierarchy h(small_config(), &c);
    h.set_context(1, 0);
    h.fill(gva(0x200000), page(0x40000000, 21), false); // 2M page covering 0x200000..0x3fffff
    h.fill(gva(0x5000), page(0x6000, 12, true), false);
    h.set_context(2, 0);
    h.fill(gva(0x201000), page(0x7000), false);         // 4K page inside that 2M range, other PCID
    h.fill(gva(0x400000), page(0x80000000, 21), false); // the next 2M page: untouched
    h.invlpg(gva(0x201abc));
    EXPECT_EQ(h.lookup(gva(0x201000), false), nullptr);
    EXPECT_NE(h.lookup(gva(0x400000), false), nullptr);
    h.set_context(1, 0);
    EXPECT_EQ(h.lookup(gva(0x200000), false), nullptr);
    h.invlpg(gva(0x5000)); // globals too
    EXPECT_EQ(h.lookup(gva(0x5000), false), nullptr);
}

TEST(TlbHierarchy, LargePagesGoToTheLargeArrayAndStlbOnlyIfItHoldsThem) {
    TlbCounters c;
    TlbHierarchyConfig config = small_config();
    config.stlb_holds_2m = false;
    TlbHierarchy h(config, &c);
    h.fill(gva(0x600000), page(0x40000000, 21), false);
    h.fill(gva(0x40000000), page(0x80000000, 30), false);
    EXPECT_EQ(h.lookup(gva(0x7fffff), false)->host(gva(0x7fffff)).value(), 0x401fffffu);
    EXPECT_EQ(h.lookup(gva(0x40000000 + 0x12345), false)->host(gva(0x40012345)).value(),
              0x80012345u);
    EXPECT_EQ(c.l1d_misses, 0u);
    // Evict the 2M entry from the 4-entry large array: no STLB copy to fall back on.
    for (uint64_t i = 1; i <= 4; ++i) h.fill(gva(i << 32), page(i << 33, 21), false);
    EXPECT_EQ(h.lookup(gva(0x600000), false), nullptr);
}

// The array answers repeats from a memo of recent probe results (tlb.h). Driven by a random
// mix of lookups, fills and invalidations over a few pages and two PCIDs that alias in the memo
// and in the sets, it must behave exactly like a plain true-LRU set-associative array. (No global
// entries: with a global and a PCID entry for one page, which of them a fill replaces depends
// on way order, which a list model does not have.)
// Run at two shapes: two ways (the memo's aliasing), and twelve (the STLB's: the fill's victim
// is the first smallest stamp among many ways, invalid ones first).
namespace {
void check_against_list_model(uint32_t sets, uint32_t ways, uint64_t pages) {
    struct Entry {
        uint64_t vpn, frame;
        uint16_t pcid;
    };
    std::vector<std::vector<Entry>> ref(sets); // per set, most recent first
    auto matches = [](const Entry& e, uint64_t vpn, uint16_t pcid) {
        return e.vpn == vpn && e.pcid == pcid;
    };
    GuestTlbArray a({sets * ways, ways}, kSize4K);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    auto next = [&] {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        return rng;
    };
    uint64_t hits = 0;
    for (int step = 0; step < 20000; ++step) {
        // Mostly a drifting hot set of three pages (as code, stack and data are), else any of 40.
        uint64_t r = next(), hot = (step / 64) * 7 + (r >> 40) % 3;
        uint64_t vpn = (r >> 44) % 5 ? hot % pages : r % pages,
                 va = (vpn << 12) | ((r >> 8) & 0xfff);
        uint16_t pcid = static_cast<uint16_t>((r >> 20) % 2);
        auto& set = ref[vpn % sets];
        unsigned op = (r >> 24) % 16;
        if (op < 11) { // lookups dominate, as they do in a run
            const Translation* t = a.lookup(gva(va), pcid, 0);
            auto it = std::find_if(set.begin(), set.end(),
                                   [&](const Entry& e) { return matches(e, vpn, pcid); });
            ASSERT_EQ(t != nullptr, it != set.end()) << "step " << step;
            if (t) {
                ++hits;
                ASSERT_EQ(t->frame.value(), it->frame) << "step " << step;
                std::rotate(set.begin(), it, it + 1);
            }
        } else if (op < 14) {
            uint64_t frame = (r >> 32) << 12;
            a.fill(gva(va), page(frame), pcid, 0);
            auto it = std::find_if(set.begin(), set.end(),
                                   [&](const Entry& e) { return matches(e, vpn, pcid); });
            if (it != set.end())
                set.erase(it);
            else if (set.size() == ways)
                set.pop_back();
            set.insert(set.begin(), Entry{vpn, frame, pcid});
        } else if (op == 14) {
            a.invalidate_page(gva(va), 0);
            std::erase_if(set, [&](const Entry& e) { return e.vpn == vpn; });
        } else {
            a.flush_non_global(pcid, 0);
            for (auto& s : ref) std::erase_if(s, [&](const Entry& e) { return e.pcid == pcid; });
        }
    }
    EXPECT_GT(hits, 2000u); // the sequence exercised the memo, not only misses
}
} // namespace

TEST(TlbArray, MemoizedLookupsBehaveExactlyLikeAPlainLruArray) {
    check_against_list_model(4, 2, 40);
}

TEST(TlbArray, TwelveWayFillsEvictExactlyLikeAPlainLruArray) {
    check_against_list_model(2, 12, 64);
}

// The memo points into the array's own storage: a copy must answer from its own entries.
TEST(TlbArray, ACopyAnswersFromItsOwnEntries) {
    GuestTlbArray a({4, 4}, kSize4K);
    a.fill(gva(0x5000), page(0x1000), 0, 0);
    ASSERT_NE(a.lookup(gva(0x5000), 0, 0), nullptr); // remembered
    GuestTlbArray b = a;
    a.invalidate_page(gva(0x5000), 0);
    EXPECT_EQ(a.lookup(gva(0x5000), 0, 0), nullptr);
    const Translation* t = b.lookup(gva(0x5000), 0, 0);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->frame.value(), 0x1000u);
    b.fill(gva(0x5000), page(0x2000), 0, 0);
    EXPECT_EQ(b.lookup(gva(0x5000), 0, 0)->frame.value(), 0x2000u);
}
