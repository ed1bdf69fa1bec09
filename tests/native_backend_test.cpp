#include "mmu_fixtures.h"

#include <gtest/gtest.h>

#include <vector>

using namespace vmmu;
using namespace vmmu::testing;

namespace {
constexpr GuestVirt kVa{0x7f12'3456'7000};
constexpr GuestPhys kPa{0x2345000};
constexpr uint64_t kRw = x86::kPteW | x86::kPteU;
} // namespace

TEST(NativeBackend, ColdWalkTakes4References) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("native");
    b->on_access(read_of(kVa + 8, kPa + 8));
    const auto& c = b->counters();
    EXPECT_EQ(c.walks.walks, 1u);
    EXPECT_EQ(c.walks.refs, 4u);
    EXPECT_EQ(c.walks.guest_refs, 4u);
    EXPECT_EQ(c.walks.max_refs_per_walk, 4u);
    EXPECT_EQ(c.exits.total(), 0u);
    // Second access to the same page: an L1 dTLB hit, no walk.
    b->on_access(read_of(kVa + 16, kPa + 16));
    EXPECT_EQ(c.walks.walks, 1u);
    EXPECT_EQ(c.tlb.l1d_lookups, 2u);
    EXPECT_EQ(c.tlb.l1d_misses, 1u);
}

TEST(NativeBackend, TwoMegabytePageWalkTakes3References) {
    Machine m;
    m.tables.map(m.root, GuestVirt(0x40000000), GuestPhys(0x600000), 21, kRw);
    auto b = m.make("native");
    b->on_access(read_of(GuestVirt(0x40012345), GuestPhys(0x612345)));
    EXPECT_EQ(b->counters().walks.refs, 3u);
}

TEST(NativeBackend, WarmPageWalkCacheCutsReferences) {
    Machine m;
    m.env.pwc = true;
    for (uint64_t i = 0; i < 8; ++i)
        m.tables.map(m.root, kVa + (i << 12), kPa + (i << 12), 12, kRw);
    auto b = m.make("native");
    b->on_access(read_of(kVa, kPa));
    EXPECT_EQ(b->counters().walks.refs, 4u);
    // Neighbouring pages share the PDE: one reference (the PTE) each.
    for (uint64_t i = 1; i < 8; ++i) b->on_access(read_of(kVa + (i << 12), kPa + (i << 12)));
    EXPECT_EQ(b->counters().walks.walks, 8u);
    EXPECT_EQ(b->counters().walks.refs, 4u + 7u);
    EXPECT_EQ(b->counters().walks.pwc_hits, 7u);
    EXPECT_EQ(b->counters().walks.pwc_lookups, 8u);
}

TEST(NativeBackend, OracleCatchesAStaleTlbEntry) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("native");
    b->on_access(read_of(kVa, kPa));
    // The OS remaps the page but forgets INVLPG: the model's TLB now disagrees.
    m.tables.map(m.root, kVa, kPa + 0x10000, 12, kRw);
    EXPECT_THROW(b->on_access(read_of(kVa, kPa + 0x10000)), OracleMismatch);
}

TEST(NativeBackend, InvlpgMakesTheRemapVisible) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("native");
    b->on_access(read_of(kVa, kPa));
    m.tables.map(m.root, kVa, kPa + 0x10000, 12, kRw);
    b->on_invlpg(0, kVa);
    EXPECT_NO_THROW(b->on_access(read_of(kVa, kPa + 0x10000)));
    EXPECT_EQ(b->counters().walks.walks, 2u);
}

TEST(NativeBackend, WalkOfAnUnmappedAddressIsAnOracleFailure) {
    Machine m;
    auto b = m.make("native");
    EXPECT_THROW(b->on_access(read_of(kVa, kPa)), OracleMismatch);
}

TEST(NativeBackend, Cr3WriteFlushesNonGlobalEntriesOnly) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    m.tables.map(m.root, GuestVirt(0xffff'8000'0000'0000), GuestPhys(0x300000), 12,
                 kRw | x86::kPteG);
    auto b = m.make("native");
    b->on_access(read_of(kVa, kPa));
    b->on_access(read_of(GuestVirt(0xffff'8000'0000'0000), GuestPhys(0x300000)));
    b->on_cr3_write(0, m.root.value());
    b->on_access(read_of(kVa, kPa));
    b->on_access(read_of(GuestVirt(0xffff'8000'0000'0000), GuestPhys(0x300000)));
    EXPECT_EQ(b->counters().walks.walks, 3u); // the global kernel page survived
    EXPECT_EQ(b->counters().tlb.flushes, 1u);
    // Toggling CR4.PGE flushes globals too.
    b->on_cr4_write(0, x86::kCr4Pae);
    b->on_access(read_of(GuestVirt(0xffff'8000'0000'0000), GuestPhys(0x300000)));
    EXPECT_EQ(b->counters().walks.walks, 4u);
}

TEST(NativeBackend, PcidNoFlushCr3WriteKeepsEntries) {
    Machine m;
    m.env.initial_cr4 |= x86::kCr4Pcide;
    m.env.initial_cr3 = m.root.value() | 1;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("native");
    b->on_access(read_of(kVa, kPa));
    b->on_cr3_write(0, m.root.value() | 2 | x86::kCr3NoFlush); // PCID 2
    b->on_cr3_write(0, m.root.value() | 1 | x86::kCr3NoFlush); // back to PCID 1, entries kept
    b->on_access(read_of(kVa, kPa));
    EXPECT_EQ(b->counters().walks.walks, 1u);
    b->on_cr3_write(0, m.root.value() | 1); // bit 63 clear: PCID 1 flushed
    b->on_access(read_of(kVa, kPa));
    EXPECT_EQ(b->counters().walks.walks, 2u);
}

TEST(NativeBackend, WriteThroughAReadOnlyCachedEntryRewalks) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, x86::kPteU); // read-only
    auto b = m.make("native");
    b->on_access(read_of(kVa, kPa));
    m.tables.map(m.root, kVa, kPa, 12, kRw); // the OS upgrades after a fault
    b->on_guest_fault(0, 14, kVa, 3);
    b->on_access(write_of(kVa, kPa));
    EXPECT_EQ(b->counters().walks.walks, 2u);
}

TEST(NativeBackend, FetchesCountInTheInstructionTlbPerPage) {
    Machine m;
    m.tables.map(m.root, GuestVirt(0x100000), GuestPhys(0x100000), 12, kRw);
    m.tables.map(m.root, GuestVirt(0x101000), GuestPhys(0x101000), 12, kRw);
    auto b = m.make("native");
    b->on_fetch(Fetch{GuestVirt(0x100ff0), GuestPhys(0x100ff0), 32, 5, false});
    EXPECT_EQ(b->counters().tlb.l1i_lookups, 2u);
    EXPECT_EQ(b->counters().walks.walks, 2u);
    EXPECT_EQ(b->counters().exits.total(), 0u);
}

// A loop's repeats sent at once count what each execution would, down to the entry an earlier
// run cached: here a read-only entry for a page the loop writes (the OS upgraded the page without
// a flush since), so the first repeat re-walks and the rest hit.
TEST(NativeBackend, BlockRepeatsRewalkAReadOnlyEntryAsEachExecutionWould) {
    Machine m;
    m.tables.map(m.root, GuestVirt(0x100000), GuestPhys(0x100000), 12, kRw);
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto each = m.make("native"), repeats = m.make("native");
    Fetch f{GuestVirt(0x100000), GuestPhys(0x100000), 16, 4, false};
    std::vector<DataAccess> block = {write_of(kVa, kPa)};
    GuestPhys leaf = m.tables.leaf_entry(m.root, kVa, 1);
    for (Backend* b : {each.get(), repeats.get()}) {
        b->on_fetch(f);
        b->on_access(block[0]);
        b->on_fetch(f); // the instruction TLB's memo knows the block's page now
        // Read-only, flushed, read twice (cached read-only, and known to the TLB's memo, which
        // a fill empties), writable again without a flush.
        m.tables.write_entry(leaf, m.tables.read_entry(leaf) & ~x86::kPteW);
        b->on_invlpg(0, kVa);
        b->on_access(read_of(kVa, kPa));
        b->on_access(read_of(kVa + 8, kPa + 8));
        m.tables.write_entry(leaf, m.tables.read_entry(leaf) | x86::kPteW);
    }
    BlockEvents body[] = {{f, block, {}}};
    each->Backend::on_loop_repeats(body, 5);
    repeats->on_loop_repeats(body, 5);
    auto rewalks = [](const Backend& b) {
        auto it = b.counters().details.find("perm_rewalks");
        return it == b.counters().details.end() ? 0 : it->second;
    };
    EXPECT_EQ(rewalks(*each), 1u);
    EXPECT_EQ(rewalks(*repeats), 1u);
    EXPECT_EQ(repeats->counters().walks.walks, each->counters().walks.walks);
    EXPECT_EQ(repeats->counters().tlb.l1d_lookups, each->counters().tlb.l1d_lookups);
    EXPECT_EQ(repeats->counters().tlb.l1i_lookups, each->counters().tlb.l1i_lookups);
}
