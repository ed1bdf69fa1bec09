// The agile scheme on hand-built guest tables (tests/mmu_fixtures.h): a shadowed walk is 1D, a
// page table the guest keeps writing moves to nested mode and its writes stop exiting, walks
// then switch to 2D at that level, and a quiet nested subtree moves back.
#include "engine/agile/agile_backend.h"
#include "mmu_fixtures.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>

using namespace vmmu;
using namespace vmmu::testing;

namespace {
constexpr GuestVirt kVa{0x7f12'3456'7000};
constexpr GuestPhys kPa{0x2345000};
constexpr uint64_t kRw = x86::kPteW | x86::kPteU;

agile::AgileBackend& agile_of(std::unique_ptr<Backend>& b) {
    return dynamic_cast<agile::AgileBackend&>(*b);
}

// Sends every guest write to a watched frame to the backend, as the engine's write path does.
void report_writes(Machine& m, Backend& b) {
    m.tables.on_write = [&m, &b](GuestPhys e, uint64_t old, uint64_t now) {
        if (m.memory.watched(e)) b.on_pt_write(0, e, old, now, 8);
    };
}

uint64_t exits(Backend& b, ExitReason r) { return b.counters().exits[r]; }
uint64_t refs(Backend& b) { return b.counters().walks.refs; }
uint64_t detail(Backend& b, const char* name) {
    auto d = b.counters().details;
    return d.count(name) ? d.at(name) : 0;
}
} // namespace

TEST(AgileBackend, ColdShadowedWalkFillsEachLevelOnceThenTakes4References) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("agile");
    b->on_access(read_of(kVa, kPa));
    EXPECT_EQ(exits(*b, ExitReason::PfHidden), 4u); // one fill per level
    b->on_cr3_write(0, m.root.value());
    uint64_t before = refs(*b);
    b->on_access(read_of(kVa + 8, kPa + 8));
    EXPECT_EQ(refs(*b) - before, 4u);
    EXPECT_EQ(exits(*b, ExitReason::PfHidden), 4u);
    EXPECT_EQ(detail(*b, "walks_switched"), 0u);
}

TEST(AgileBackend, OftenWrittenPageTableMovesToNestedModeAndItsWritesStopExiting) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("agile");
    report_writes(m, *b);
    b->on_access(read_of(kVa, kPa));
    GuestPhys pt = m.tables.leaf_entry(m.root, kVa, 1).page_base();
    ASSERT_NE(agile_of(b).page(pt), nullptr);
    EXPECT_FALSE(agile_of(b).page(pt)->nested);
    // The guest keeps mapping new pages in the same page table.
    uint64_t threshold = agile_of(b).options().nested_threshold;
    for (uint64_t i = 1; i <= 20; ++i) {
        GuestVirt va = kVa + i * 0x1000;
        m.tables.map(m.root, va, kPa + i * 0x1000, 12, kRw);
        b->on_access(write_of(va, kPa + i * 0x1000));
        if (i == threshold) {
            EXPECT_EQ(exits(*b, ExitReason::PtWrite), threshold);
        }
    }
    EXPECT_TRUE(agile_of(b).page(pt)->nested);
    EXPECT_EQ(detail(*b, "to_nested"), 1u);
    // Exits for the writes stopped at the switch: threshold + 1 writes exited, 19 - threshold
    // did not.
    EXPECT_EQ(exits(*b, ExitReason::PtWrite), threshold + 1);
    EXPECT_EQ(detail(*b, "nested_pt_writes"), 20 - (threshold + 1));
    // Upper levels stay shadowed; the walk switches at the page table: 3 shadow references, then
    // the guest entry and 4 EPT references for its table, then 4 for the data (no caches).
    EXPECT_FALSE(agile_of(b).page(m.root)->nested);
    b->on_cr3_write(0, m.root.value());
    uint64_t before = refs(*b);
    b->on_access(read_of(kVa + 5 * 0x1000, kPa + 5 * 0x1000));
    EXPECT_EQ(refs(*b) - before, 3u + 5 + 4);
    EXPECT_GT(detail(*b, "walks_switched"), 0u);
}

TEST(AgileBackend, QuietNestedSubtreeMovesBackToShadowAtTheNextCheck) {
    Machine m;
    m.env.options = {{"nested_threshold", "1"}, {"revert_ticks", "1"}};
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("agile");
    report_writes(m, *b);
    b->on_access(read_of(kVa, kPa));
    GuestPhys pt = m.tables.leaf_entry(m.root, kVa, 1).page_base();
    for (uint64_t i = 1; i <= 2; ++i) m.tables.map(m.root, kVa + i * 0x1000, kPa, 12, kRw);
    ASSERT_TRUE(agile_of(b).page(pt)->nested);
    b->on_timer(0); // written during this interval: stays nested
    EXPECT_TRUE(agile_of(b).page(pt)->nested);
    b->on_timer(0); // quiet for a whole interval: shadowed again
    EXPECT_FALSE(agile_of(b).page(pt)->nested);
    EXPECT_EQ(detail(*b, "to_shadow"), 1u);
    // Its entries are filled again, and the translation is still right (the oracle is on).
    b->on_cr3_write(0, m.root.value());
    b->on_access(read_of(kVa + 0x1000, kPa));
    EXPECT_EQ(detail(*b, "walks_switched"), 0u);
}

TEST(AgileBackend, GuestPageFaultExitsOnlyWhenTheWalkEndsInTheShadowedPart) {
    Machine m;
    m.env.options = {{"nested_threshold", "1"}};
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("agile");
    report_writes(m, *b);
    b->on_access(read_of(kVa, kPa));
    b->on_guest_fault(0, x86::kVecPf, GuestVirt(0x5000'0000'0000), 0);
    EXPECT_EQ(exits(*b, ExitReason::PfGuest), 1u);
    for (uint64_t i = 1; i <= 2; ++i) m.tables.map(m.root, kVa + i * 0x1000, kPa, 12, kRw);
    b->on_guest_fault(0, x86::kVecPf, kVa + 0x5000, 0); // not mapped, same page table: nested
    EXPECT_EQ(exits(*b, ExitReason::PfGuest), 1u);
}

TEST(AgileBackend, StaleShadowEntryIsCaughtByTheOracle) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("agile");
    b->on_access(read_of(kVa, kPa));
    // The guest remaps the page without the hypervisor hearing of it (writes not reported).
    m.tables.map(m.root, kVa, kPa + 0x10000, 12, kRw);
    b->on_invlpg(0, kVa);
    EXPECT_THROW(b->on_access(read_of(kVa, kPa + 0x10000)), OracleMismatch);
}

TEST(AgileBackend, PolicyOptionsOutOfRangeAreRejected) {
    Machine m;
    m.env.options = {{"nested_threshold", "0"}};
    EXPECT_THROW(m.make("agile"), std::invalid_argument);
    m.env.options = {{"revert_ticks", "1000001"}};
    EXPECT_THROW(m.make("agile"), std::invalid_argument);
    m.env.options = {{"threshold", "2"}};
    EXPECT_THROW(m.make("agile"), std::invalid_argument);
}

namespace {
// A run with shadowed and nested walks, page-walk caches and nested TLB on: cold shadowed walks,
// a page table written into nested mode, then walks that switch to 2D at it.
std::unique_ptr<Backend> mixed_run(Machine& m, bool caches, uint64_t& accesses) {
    m.env.pwc = true;
    m.env.ntlb = true;
    m.env.caches = caches;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("agile");
    report_writes(m, *b);
    accesses = 0;
    auto access = [&](GuestVirt va, GuestPhys pa, bool write) {
        b->on_access(write ? write_of(va, pa) : read_of(va, pa));
        ++accesses;
    };
    access(kVa, kPa, false);
    for (uint64_t i = 1; i <= 8; ++i) {
        m.tables.map(m.root, kVa + i * 0x1000, kPa + i * 0x1000, 12, kRw);
        access(kVa + i * 0x1000, kPa + i * 0x1000, true);
    }
    for (int round = 0; round < 3; ++round) {
        b->on_cr3_write(0, m.root.value());
        for (uint64_t i = 0; i <= 8; ++i)
            access(kVa + i * 0x1000 + 64, kPa + i * 0x1000 + 64, false);
    }
    return b;
}

uint64_t served(const CacheCounters& c, WalkDimension d) {
    uint64_t n = 0;
    for (uint64_t v : c.walk[static_cast<size_t>(d)]) n += v;
    return n;
}
} // namespace

TEST(AgileBackend, CachesSeeEveryShadowAnd2dReferenceAndEveryDataAccessButNoWalkCacheHit) {
    Machine m;
    uint64_t accesses = 0;
    auto b = mixed_run(m, true, accesses);
    const BackendCounters& c = b->counters();
    ASSERT_TRUE(c.caches.modelled);
    ASSERT_GT(detail(*b, "walks_switched"), 0u);
    ASSERT_GT(c.walks.pwc_hits + c.walks.ntlb_hits, 0u);
    // Each dimension's references, as many as the walks made: none for a PWC or nested-TLB hit.
    EXPECT_EQ(c.walks.shadow_refs, detail(*b, "shadow_refs"));
    EXPECT_EQ(c.walks.guest_refs + c.walks.nested_refs, detail(*b, "nested_part_refs"));
    EXPECT_EQ(served(c.caches, WalkDimension::Shadow), c.walks.shadow_refs);
    EXPECT_EQ(served(c.caches, WalkDimension::Guest), c.walks.guest_refs);
    EXPECT_EQ(served(c.caches, WalkDimension::Nested), c.walks.nested_refs);
    EXPECT_EQ(c.walks.shadow_refs + c.walks.guest_refs + c.walks.nested_refs, c.walks.refs);
    uint64_t data = 0;
    for (uint64_t v : c.caches.data) data += v;
    EXPECT_EQ(data, accesses);
    // Walk cycles are the latencies of the levels that served the references, plus the hits.
    double by_level = 0;
    for (size_t d = 0; d < CacheCounters::kDims; ++d)
        for (size_t l = 0; l < CacheCounters::kLevels; ++l)
            by_level += static_cast<double>(c.caches.walk[d][l]) *
                        m.prof.caches.latency(static_cast<CacheLevel>(l));
    EXPECT_DOUBLE_EQ(b->cycles(0).walk,
                     by_level + static_cast<double>(c.walks.pwc_hits) * m.prof.pwc_hit_cycles +
                         static_cast<double>(c.walks.ntlb_hits) * m.prof.ntlb_hit_cycles);
}

TEST(AgileBackend, ShadowEntriesReadAgainHitL1) {
    Machine m;
    m.env.caches = true;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("agile");
    b->on_access(read_of(kVa, kPa)); // fills the 4 shadow levels (4 hidden faults)
    b->on_cr3_write(0, m.root.value());
    CacheCounters before = b->counters().caches;
    b->on_access(read_of(kVa, kPa));
    const CacheCounters& after = b->counters().caches;
    auto shadow = static_cast<size_t>(WalkDimension::Shadow);
    EXPECT_EQ(after.walk[shadow][static_cast<size_t>(CacheLevel::L1)] -
                  before.walk[shadow][static_cast<size_t>(CacheLevel::L1)],
              4u);
    EXPECT_EQ(served(after, WalkDimension::Shadow) - served(before, WalkDimension::Shadow), 4u);
}

TEST(AgileBackend, CachesOffCountsTheSameAndPricesWalksFlat) {
    Machine on_machine, off_machine;
    uint64_t accesses_on = 0, accesses_off = 0;
    auto on = mixed_run(on_machine, true, accesses_on);
    auto off = mixed_run(off_machine, false, accesses_off);
    const BackendCounters& a = on->counters();
    const BackendCounters& c = off->counters();
    EXPECT_FALSE(c.caches.modelled);
    EXPECT_EQ(c.walks.refs, a.walks.refs);
    EXPECT_EQ(c.walks.shadow_refs, a.walks.shadow_refs);
    EXPECT_EQ(c.walks.pwc_hits, a.walks.pwc_hits);
    EXPECT_EQ(c.walks.ntlb_hits, a.walks.ntlb_hits);
    EXPECT_EQ(c.exits.total(), a.exits.total());
    EXPECT_EQ(c.details, a.details);
    const Profile& p = off_machine.prof;
    EXPECT_DOUBLE_EQ(off->cycles(0).walk,
                     static_cast<double>(c.walks.refs) * p.walk_ref_cycles +
                         static_cast<double>(c.walks.pwc_hits) * p.pwc_hit_cycles +
                         static_cast<double>(c.walks.ntlb_hits) * p.ntlb_hit_cycles);
    EXPECT_EQ(off->cycles(0).data, 0.0);
}
