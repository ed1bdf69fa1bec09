// Five-level paging (CR4.LA57) on hand-built tables: the reference walker, every scheme's walk
// length, the (n+1)(m+1)-1 cold 2D walk for each pair of guest and EPT levels, and the PML5E
// page-walk cache.
#include "engine/core/paging.h"
#include "engine/mmu/inspect.h"
#include "engine/mmu/pwc.h"
#include "mmu_fixtures.h"

#include <gtest/gtest.h>

#include <tuple>

using namespace vmmu;
using namespace vmmu::testing;

namespace {
// Bit 48 set: PML5 slot 1, canonical only with 57-bit addresses (the guest's stack and mmap
// region live up there under 5 levels, workloads/include/vmmu/abi.h).
constexpr GuestVirt kHigh{0x1'1000'0000'3000};
constexpr GuestVirt kLow{0x80'0000'5000};
constexpr GuestPhys kPa{0x2345000};
constexpr uint64_t kRw = x86::kPteW | x86::kPteU;

uint64_t cold_1d_refs(Machine& m, const char* scheme, GuestVirt va) {
    auto b = m.make(scheme);
    Inspector* in = b->inspector();
    EXPECT_NE(in, nullptr);
    EXPECT_EQ(in->guest_levels(), m.tables.levels);
    return in->walk_1d(va).refs.size();
}
} // namespace

TEST(La57Paging, WalkerReadsFiveLevelsFromThePml5) {
    Machine m;
    m.use_five_levels();
    m.tables.map(m.root, kHigh, kPa, 12, kRw);
    auto r = x86::walk(
        m.root, kHigh, [&](GuestPhys e) { return m.memory.read_u64(e); }, 5);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.steps, 5);
    EXPECT_EQ(r.step[0].level, 5);
    EXPECT_EQ(r.step[0].entry_pa, m.root + 8 * 1); // PML5 slot 1: bit 48
    EXPECT_EQ(r.pa, kPa);
    // Read as four levels, the same root misses: the address needs the fifth.
    auto four = x86::walk(m.root, kHigh, [&](GuestPhys e) { return m.memory.read_u64(e); });
    EXPECT_FALSE(four.ok && four.pa == kPa);
}

TEST(La57Paging, CanonicalFormFollowsTheLevelCount) {
    EXPECT_TRUE(x86::canonical(0x7fff'ffff'f000, 4));
    EXPECT_FALSE(x86::canonical(kHigh.value(), 4));
    EXPECT_TRUE(x86::canonical(kHigh.value(), 5));
    EXPECT_TRUE(x86::canonical(0x00ff'ffff'ffff'f000, 5));
    EXPECT_FALSE(x86::canonical(0x0100'0000'0000'0000, 5));
    EXPECT_TRUE(x86::canonical(0xff00'0000'0000'0000, 5));
    EXPECT_EQ(x86::paging_levels(x86::kCr4Pae), 4);
    EXPECT_EQ(x86::paging_levels(x86::kCr4Pae | x86::kCr4La57), 5);
}

TEST(La57Paging, NativeAndShadowWalkFiveEntries) {
    for (GuestVirt va : {kHigh, kLow}) {
        Machine m;
        m.use_five_levels();
        m.tables.map(m.root, va, kPa, 12, kRw);
        EXPECT_EQ(cold_1d_refs(m, "native", va), 5u) << va.value();
        EXPECT_EQ(cold_1d_refs(m, "shadow", va), 5u) << va.value();
    }
    Machine four;
    four.tables.map(four.root, kLow, kPa, 12, kRw);
    EXPECT_EQ(cold_1d_refs(four, "native", kLow), 4u);
    EXPECT_EQ(cold_1d_refs(four, "shadow", kLow), 4u);
}

TEST(La57Paging, NativeCountsFiveReferencesOnAColdMiss) {
    Machine m;
    m.use_five_levels();
    m.tables.map(m.root, kHigh, kPa, 12, kRw);
    auto b = m.make("native");
    b->on_access(read_of(kHigh + 8, kPa + 8));
    EXPECT_EQ(b->counters().walks.walks, 1u);
    EXPECT_EQ(b->counters().walks.refs, 5u);
    EXPECT_EQ(b->counters().walks.max_refs_per_walk, 5u);
}

// (guest levels, EPT levels, cold references): (n+1)(m+1)-1.
class ColdTwoDimensionalWalk : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(ColdTwoDimensionalWalk, TakesTheProductRule) {
    auto [guest, ept, expected] = GetParam();
    Machine m;
    if (guest == 5) m.use_five_levels();
    m.env.ept_levels = static_cast<unsigned>(ept);
    GuestVirt va = guest == 5 ? kHigh : kLow;
    m.tables.map(m.root, va, kPa, 12, kRw);
    auto b = m.make("slat");
    Inspector* in = b->inspector();
    ASSERT_NE(in, nullptr);
    EXPECT_EQ(in->guest_levels(), guest);
    Walk2d w = in->trace_2d(va, WalkCaches::None);
    ASSERT_TRUE(w.ok);
    EXPECT_EQ(w.gpa, kPa);
    EXPECT_EQ(w.references, static_cast<uint64_t>(expected));
    // Row by row: each guest table and the data gPA take `ept` nested references, each guest
    // table then one guest reference.
    size_t i = 0;
    for (int gl = guest; gl >= 0; --gl) {
        for (int nl = ept; nl >= 1; --nl, ++i) {
            ASSERT_LT(i, w.steps.size());
            EXPECT_EQ(w.steps[i].dimension, WalkDim::Nested) << i;
            EXPECT_EQ(w.steps[i].guest_level, gl) << i;
            EXPECT_EQ(w.steps[i].nested_level, nl) << i;
        }
        if (gl == 0) break;
        ASSERT_LT(i, w.steps.size());
        EXPECT_EQ(w.steps[i].dimension, WalkDim::Guest) << i;
        EXPECT_EQ(w.steps[i].guest_level, gl) << i;
        ++i;
    }
    EXPECT_EQ(i, w.steps.size());
}

INSTANTIATE_TEST_SUITE_P(La57, ColdTwoDimensionalWalk,
                         ::testing::Values(std::make_tuple(4, 4, 24), std::make_tuple(4, 5, 29),
                                           std::make_tuple(5, 4, 29), std::make_tuple(5, 5, 35)));

TEST(La57Paging, SlatCountsThirtyFiveReferencesOnAColdAccess) {
    Machine m;
    m.use_five_levels();
    m.env.ept_levels = 5;
    m.tables.map(m.root, kHigh, kPa, 12, kRw);
    auto b = m.make("slat");
    // The first access builds the EPT (violations); a CR3 write then empties the TLB.
    b->on_access(read_of(kHigh, kPa));
    b->on_cr3_write(0, m.root.value());
    uint64_t before = b->counters().walks.refs;
    b->on_access(read_of(kHigh + 8, kPa + 8));
    EXPECT_EQ(b->counters().walks.refs - before, 35u);
    EXPECT_EQ(b->counters().walks.max_refs_per_walk, 35u);
}

TEST(La57Paging, AgileWalksFiveShadowedLevelsThenSwitchesBelowAChangingTable) {
    Machine m;
    m.use_five_levels();
    m.env.options = {{"nested_threshold", "1"}};
    m.tables.map(m.root, kHigh, kPa, 12, kRw);
    auto b = m.make("agile");
    b->on_access(read_of(kHigh, kPa));
    b->on_cr3_write(0, m.root.value());
    uint64_t before = b->counters().walks.refs;
    b->on_access(read_of(kHigh + 8, kPa + 8));
    // All shadowed: one reference per guest level, 1D.
    EXPECT_EQ(b->counters().walks.refs - before, 5u);
    // Two writes to the page table (level 1) move it to nested mode: 4 shadowed levels, then
    // the PT read two-dimensionally (EPT levels + 1) and the data gPA (EPT levels).
    GuestPhys pte = m.tables.leaf_entry(m.root, kHigh, 1);
    GuestPhys pa2{0x3456000};
    for (int i = 0; i < 2; ++i) {
        m.tables.write_entry(pte, pa2.value() | x86::kPteP | kRw);
        b->on_pt_write(0, pte, 0, 0, 8);
    }
    EXPECT_EQ(b->counters().details.at("to_nested"), 1u);
    b->on_invlpg(0, kHigh);
    b->on_access(read_of(kHigh, pa2)); // the EPT learns the new frame
    b->on_cr3_write(0, m.root.value());
    before = b->counters().walks.refs;
    b->on_access(read_of(kHigh + 8, pa2 + 8));
    EXPECT_EQ(b->counters().walks.refs - before, 4u + (4 + 1) + 4);
    // The inspector's view of the same walk, cold: 4 shadow entries, then 2D from gL1.
    Inspector* in = b->inspector();
    ASSERT_NE(in, nullptr);
    EXPECT_EQ(in->walk_shape(), WalkShape::Mixed);
    WalkMixed w = in->trace_mixed(kHigh);
    ASSERT_TRUE(w.ok);
    EXPECT_EQ(w.shadowed.size(), 4u);
    EXPECT_EQ(w.shadowed.front().level, 5);
    EXPECT_EQ(w.switch_level, 1);
    EXPECT_EQ(w.nested.references, (4u + 1) + 4);
    EXPECT_EQ(w.nested.gpa, pa2);
    EXPECT_EQ(w.hpa, m.p2m.translate(pa2));
}

TEST(La57Paging, PwcCachesPml5EntriesForFiveLevelWalks) {
    WalkCounters c;
    PwcConfig config{2, 4, 32};
    config.pml5e = 2;
    GuestPwc pwc(config, &c);
    GuestPhys pml4{0x5000};
    pwc.fill(kHigh, 5, pml4, 0);
    // Another address with the same bits 56:48 finds the PML4 its PML5 entry points to.
    GuestPwc::Probe p = pwc.lookup(GuestVirt(kHigh.value() + (uint64_t{7} << 39)), 0);
    ASSERT_TRUE(p.hit());
    EXPECT_EQ(p.level, 4);
    EXPECT_EQ(p.table, pml4);
    // A different PML5 slot does not.
    EXPECT_FALSE(pwc.lookup(kLow, 0).hit());
    // Without a PML5E cache nothing is kept.
    GuestPwc none(PwcConfig{2, 4, 32}, &c);
    none.fill(kHigh, 5, pml4, 0);
    EXPECT_FALSE(none.lookup(kHigh, 0).hit());
}

TEST(La57Paging, ProfilesGiveAPml5eCacheAsLargeAsThePml4eCache) {
    Profile p = test_profile("nehalem-2009");
    EXPECT_EQ(p.pwc.pml5e, p.pwc.pml4e);
    EXPECT_EQ(p.pwc_nested.pml5e, p.pwc_nested.pml4e);
}
