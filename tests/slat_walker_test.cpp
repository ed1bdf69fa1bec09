#include "engine/slat/slat_backend.h"
#include "mmu_fixtures.h"

#include <gtest/gtest.h>

using namespace vmmu;
using namespace vmmu::testing;

namespace {
constexpr GuestVirt kVa{0x7f12'3456'7000};
constexpr GuestPhys kPa{0x2345000};
constexpr uint64_t kRw = x86::kPteW | x86::kPteU;

SlatBackend& slat(std::unique_ptr<Backend>& b) { return dynamic_cast<SlatBackend&>(*b); }

// Touches va once (building the EPT), then flushes the TLB with a CR3 write.
void warm_ept_then_flush(Backend& b, Machine& m, GuestVirt va, GuestPhys pa) {
    b.on_access(read_of(va, pa));
    b.on_cr3_write(0, m.root.value());
}
} // namespace

TEST(SlatWalker, ColdWalkTakes24References) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    warm_ept_then_flush(*b, m, kVa, kPa);
    uint64_t refs_before = b->counters().walks.refs;
    uint64_t walks_before = b->counters().walks.walks;
    std::vector<WalkRef> trace;
    slat(b).set_trace(&trace);
    b->on_access(read_of(kVa + 0x18, kPa + 0x18));
    const auto& w = b->counters().walks;
    EXPECT_EQ(w.walks - walks_before, 1u);
    EXPECT_EQ(w.refs - refs_before, 24u);
    EXPECT_EQ(w.max_refs_per_walk, 24u);
    ASSERT_EQ(trace.size(), 24u);
    // The grid: for each guest level, 4 nested refs then the guest entry; then the data gPA.
    size_t i = 0;
    for (int gl = 4; gl >= 0; --gl) {
        for (int nl = 4; nl >= 1; --nl, ++i) {
            EXPECT_EQ(trace[i].dimension, WalkDim::Nested) << i;
            EXPECT_EQ(trace[i].guest_level, gl) << i;
            EXPECT_EQ(trace[i].nested_level, nl) << i;
            EXPECT_EQ(trace[i].hit_in, HitIn::None) << i;
            EXPECT_GE(trace[i].address, slat(b).ept().pool_base().value()) << i;
        }
        if (gl == 0) break;
        EXPECT_EQ(trace[i].dimension, WalkDim::Guest);
        EXPECT_EQ(trace[i].guest_level, gl);
        // A guest entry lives at p2m(gPA) in host memory.
        GuestPhys entry = m.tables.leaf_entry(m.root, kVa, gl);
        EXPECT_EQ(trace[i].address, m.p2m.translate(entry).value());
        ++i;
    }
}

TEST(SlatWalker, FourLevelGuestUnderFiveLevelEptTakes29References) {
    Machine m;
    m.env.ept_levels = 5;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    warm_ept_then_flush(*b, m, kVa, kPa);
    uint64_t before = b->counters().walks.refs;
    std::vector<WalkRef> trace;
    slat(b).set_trace(&trace);
    b->on_access(read_of(kVa + 0x18, kPa + 0x18));
    // (4+1)(5+1)-1: each of the 4 guest tables and the data gPA takes 5 nested references.
    EXPECT_EQ(b->counters().walks.refs - before, 29u);
    ASSERT_EQ(trace.size(), 29u);
    size_t i = 0;
    for (int gl = 4; gl >= 0; --gl) {
        for (int nl = 5; nl >= 1; --nl, ++i) {
            EXPECT_EQ(trace[i].dimension, WalkDim::Nested) << i;
            EXPECT_EQ(trace[i].nested_level, nl) << i;
        }
        if (gl > 0) {
            EXPECT_EQ(trace[i].dimension, WalkDim::Guest) << i;
            ++i;
        }
    }
}

TEST(SlatWalker, FiveLevelEptWithTwoMegabytePagesTakes24References) {
    Machine m;
    m.env.ept_levels = 5;
    m.env.ept_page_shift = 21;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    warm_ept_then_flush(*b, m, kVa, kPa);
    uint64_t before = b->counters().walks.refs;
    b->on_access(read_of(kVa, kPa));
    // Each nested walk reads nL5..nL2 (a 2 MiB leaf at level 2): (4+1)(4+1)-1.
    EXPECT_EQ(b->counters().walks.refs - before, (4u + 1) * (4 + 1) - 1);
}

TEST(SlatWalker, EptLevelsOtherThanFourOrFiveAreRejected) {
    Machine m;
    m.env.ept_levels = 3;
    EXPECT_THROW(m.make("slat"), std::invalid_argument);
}

TEST(SlatWalker, TwoMegabyteGuestAndEptPagesTake15References) {
    Machine m;
    m.env.ept_page_shift = 21;
    m.tables.map(m.root, GuestVirt(0x40000000), GuestPhys(0x600000), 21, kRw);
    auto b = m.make("slat");
    warm_ept_then_flush(*b, m, GuestVirt(0x40000000), GuestPhys(0x600000));
    uint64_t before = b->counters().walks.refs;
    b->on_access(read_of(GuestVirt(0x40012345), GuestPhys(0x612345)));
    // (n+1)(m+1)-1 with n = m = 3 levels walked.
    EXPECT_EQ(b->counters().walks.refs - before, 15u);
}

TEST(SlatWalker, FourKGuestUnderOneGigabyteEptPagesTake14References) {
    Machine m;
    m.env.ept_page_shift = 30;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    warm_ept_then_flush(*b, m, kVa, kPa);
    uint64_t before = b->counters().walks.refs;
    b->on_access(read_of(kVa, kPa));
    EXPECT_EQ(b->counters().walks.refs - before, (4u + 1) * (2 + 1) - 1);
}

TEST(SlatWalker, EptViolationsCountedOnFirstTouchAndNotAgain) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    b->on_access(read_of(kVa, kPa));
    // Root table, PDPT, PD, PT and the data page sit in five distinct 4K guest frames.
    uint64_t first = b->counters().exits[ExitReason::EptViolation];
    EXPECT_EQ(first, 5u);
    EXPECT_EQ(b->counters().exits.total(), first);
    b->on_cr3_write(0, m.root.value());
    b->on_access(read_of(kVa, kPa));
    EXPECT_EQ(b->counters().exits[ExitReason::EptViolation], first);
    EXPECT_EQ(b->counters().exits[ExitReason::Cr3Write], 0u);
}

TEST(SlatWalker, LargeEptPagesNeedFewerViolations) {
    Machine m;
    m.env.ept_page_shift = 30;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    b->on_access(read_of(kVa, kPa));
    // Every frame is in the first GiB of guest memory: one 1G EPT leaf covers them all.
    EXPECT_EQ(b->counters().exits[ExitReason::EptViolation], 1u);
}

TEST(SlatWalker, NestedTlbAndPageWalkCachesCutWarmWalks) {
    Machine m;
    m.env.pwc = true;
    m.env.ntlb = true;
    for (uint64_t i = 0; i < 16; ++i)
        m.tables.map(m.root, kVa + (i << 12), kPa + (i << 12), 12, kRw);
    auto b = m.make("slat");
    for (uint64_t i = 0; i < 16; ++i) b->on_access(read_of(kVa + (i << 12), kPa + (i << 12)));
    b->on_cr3_write(0, m.root.value()); // flushes the TLB and guest PWC, not the nested caches
    uint64_t before = b->counters().walks.refs;
    b->on_access(read_of(kVa, kPa));
    // Guest entries still need 4 reads; every nested translation now hits the NTLB.
    EXPECT_EQ(b->counters().walks.refs - before, 4u);
    before = b->counters().walks.refs;
    b->on_access(read_of(kVa + 0x1000, kPa + 0x1000));
    // Guest PDE cached: only the PTE read, plus NTLB hits for the PT and the data page.
    EXPECT_EQ(b->counters().walks.refs - before, 1u);
    EXPECT_GT(b->counters().walks.ntlb_hits, 0u);
    EXPECT_GT(b->counters().walks.pwc_hits, 0u);
}

TEST(SlatWalker, OracleThrowsOnACorruptedEptEntry) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    b->on_access(read_of(kVa, kPa));
    slat(b).corrupt_ept_leaf(kPa, HostPhys(0xdead000));
    EXPECT_THROW(b->on_access(read_of(kVa, kPa)), OracleMismatch);
}

TEST(SlatWalker, NoExitsForGuestCr3InvlpgOrPageFaults) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    b->on_access(read_of(kVa, kPa));
    uint64_t exits = b->counters().exits.total();
    b->on_cr3_write(0, m.root.value());
    b->on_invlpg(0, kVa);
    b->on_guest_fault(0, 14, GuestVirt(0x1000), 0);
    b->on_syscall(0);
    EXPECT_EQ(b->counters().exits.total(), exits);
    b->on_timer(0);
    b->on_io(0, 0xe9, true);
    b->on_hlt(0);
    b->on_sensitive(0, "cpuid");
    b->on_sensitive(0, "rdtsc");
    EXPECT_EQ(b->counters().exits[ExitReason::Timer], 1u);
    EXPECT_EQ(b->counters().exits[ExitReason::Io], 1u);
    EXPECT_EQ(b->counters().exits[ExitReason::Hlt], 1u);
    EXPECT_EQ(b->counters().exits[ExitReason::Other], 1u);
}

TEST(SlatWalker, ExitsFlushTheTlbOnlyWithoutVpid) {
    for (bool vpid : {true, false}) {
        Machine m;
        m.prof.vpid = vpid;
        m.tables.map(m.root, kVa, kPa, 12, kRw);
        auto b = m.make("slat");
        b->on_access(read_of(kVa, kPa));
        uint64_t walks = b->counters().walks.walks;
        b->on_timer(0);
        b->on_access(read_of(kVa, kPa));
        EXPECT_EQ(b->counters().walks.walks - walks, vpid ? 0u : 1u) << vpid;
    }
}

TEST(SlatWalker, SplinteredTwoMegabyteGuestPageUnderFourKEptUsesFourKTlbEntries) {
    Machine m;
    m.tables.map(m.root, GuestVirt(0x40000000), GuestPhys(0x600000), 21, kRw);
    auto b = m.make("slat");
    b->on_access(read_of(GuestVirt(0x40000000), GuestPhys(0x600000)));
    uint64_t walks = b->counters().walks.walks;
    // Another 4K piece of the same guest 2M page: a new TLB entry, hence a new walk.
    b->on_access(read_of(GuestVirt(0x40001000), GuestPhys(0x601000)));
    EXPECT_GT(b->counters().walks.walks, walks);
}

TEST(SlatWalker, CyclesFollowTheProfile) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    b->on_access(read_of(kVa, kPa));
    CycleBreakdown c = b->cycles(1000);
    const auto& k = b->counters();
    EXPECT_DOUBLE_EQ(c.walk, k.walks.refs * m.prof.walk_ref_cycles);
    EXPECT_DOUBLE_EQ(c.exit, k.exits.total() * m.prof.exit_round_trip_cycles);
    EXPECT_DOUBLE_EQ(c.handler, 5 * m.prof.handler(ExitReason::EptViolation));
}

TEST(SlatWalker, ColdWalkWithCachesCostsTheSumOfItsLevelsLatencies) {
    Machine m;
    m.env.caches = true;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    warm_ept_then_flush(*b, m, kVa, kPa);
    double walk_before = b->cycles(0).walk;
    uint64_t l1_before = b->counters().caches.walk_at(CacheLevel::L1);
    std::vector<WalkRef> trace;
    slat(b).set_trace(&trace);
    b->on_access(read_of(kVa + 0x18, kPa + 0x18));
    ASSERT_EQ(trace.size(), 24u);
    double sum = 0;
    for (const WalkRef& r : trace) {
        ASSERT_NE(r.served, CacheLevel::Count) << "every reference went through the caches";
        sum += m.prof.caches.latency(r.served);
    }
    EXPECT_DOUBLE_EQ(b->cycles(0).walk - walk_before, sum);
    const CacheCounters& c = b->counters().caches;
    EXPECT_TRUE(c.modelled);
    // The first walks (and their EPT violations) brought every line in from memory; this one
    // finds all 24 in L1D.
    EXPECT_EQ(c.walk_at(CacheLevel::L1) - l1_before, 24u);
    EXPECT_GT(c.walk_at(CacheLevel::Memory), 0u);
    EXPECT_EQ(c.walk[static_cast<size_t>(WalkDimension::Shadow)][0], 0u);
}

TEST(SlatWalker, PwcAndNestedTlbHitsNeverTouchTheCaches) {
    Machine m;
    m.env.caches = m.env.pwc = m.env.ntlb = true;
    for (uint64_t i = 0; i < 16; ++i)
        m.tables.map(m.root, kVa + (i << 12), kPa + (i << 12), 12, kRw);
    auto b = m.make("slat");
    auto cache_refs = [&] {
        const CacheCounters& c = b->counters().caches;
        uint64_t n = 0;
        for (size_t l = 0; l < CacheCounters::kLevels; ++l)
            n += c.walk_at(static_cast<CacheLevel>(l));
        return n;
    };
    for (uint64_t i = 0; i < 16; ++i) b->on_access(read_of(kVa + (i << 12), kPa + (i << 12)));
    b->on_cr3_write(0, m.root.value());
    b->on_access(read_of(kVa + 0x1000, kPa + 0x1000));
    b->on_access(read_of(kVa + 0x2000, kPa + 0x2000));
    const auto& w = b->counters().walks;
    EXPECT_GT(w.pwc_hits, 0u);
    EXPECT_GT(w.ntlb_hits, 0u);
    EXPECT_EQ(cache_refs(), w.refs) << "only memory references reach the caches";
    // Data accesses go through them too, one each.
    uint64_t data = 0;
    for (uint64_t n : b->counters().caches.data) data += n;
    EXPECT_EQ(data, 18u);
}
