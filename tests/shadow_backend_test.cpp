// Scenario tests of the shadow backend on hand-built guest page tables.
#include "tests/shadow_test_guest.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

using namespace vmmu;
using namespace vmmu::shadow;
using namespace vmmu::shadow::test;

namespace {
constexpr uint64_t kVa = 0x10'0000'0000; // user heap base of the suggested guest map
constexpr uint64_t kData = 0x200'0000;   // 32 MiB: data frames
Options opts(bool unsync) { return {{"unsync", unsync ? "1" : "0"}}; }
} // namespace

TEST(ShadowBackend, ColdAccessTakesHiddenFaultThenFourRefs) {
    TestGuest g(opts(true));
    g.map(kVa, kData);
    ASSERT_TRUE(g.access(kVa));
    const auto& c = g.counters();
    EXPECT_EQ(g.exits(ExitReason::PfHidden), 1u);
    // The faulting walk stops at the empty shadow root; the retried walk reads 4 entries.
    EXPECT_EQ(c.walks.walks, 2u);
    EXPECT_EQ(c.walks.shadow_refs, 5u);
    EXPECT_EQ(c.walks.max_refs_per_walk, 4u);
    EXPECT_EQ(g.detail("hv_guest_pte_reads"), 4u);
    EXPECT_EQ(g.detail("shadow_pages"), 4u);
    EXPECT_EQ(g.detail("pf_fixed"), 1u);
    // Every guest table on the path is now write-protected.
    for (int level = 4; level >= 1; --level) {
        auto r = walk(g.root(), kVa, [&](GuestPhys e) { return g.memory().read_u64(e); });
        EXPECT_TRUE(g.memory().watched(r.step[4 - level].entry_pa)) << level;
    }
    // A second access hits the TLB: no walk, no exit.
    ASSERT_TRUE(g.access(kVa + 8));
    EXPECT_EQ(g.counters().walks.walks, 2u);
    EXPECT_EQ(g.counters().exits.total(), 1u);
    // The translation is p2m(gPA), the shadow leaf is a 4K host page.
    ShadowWalk w = g.mmu().walk(GuestVirt(kVa + 0x123));
    ASSERT_TRUE(w.ok);
    EXPECT_EQ(w.refs, 4);
    EXPECT_EQ(w.hpa, g.p2m().translate(GuestPhys(kData + 0x123)));
}

TEST(ShadowBackend, GuestPtWriteIsEmulatedExit) {
    TestGuest g(opts(false));
    g.map(kVa, kData);
    ASSERT_TRUE(g.access(kVa));
    // Demand paging: a not-present -> present write in a shadowed table exits and is emulated.
    g.map(kVa + 0x1000, kData + 0x1000);
    EXPECT_EQ(g.exits(ExitReason::PtWrite), 1u);
    EXPECT_EQ(g.detail("pf_emulate"), 1u);
    EXPECT_EQ(g.detail("mmu_pte_write"), 1u);
    // The emulation updated the shadow leaf, so the access needs no hidden fault.
    uint64_t hidden = g.exits(ExitReason::PfHidden);
    ASSERT_TRUE(g.access(kVa + 0x1000));
    EXPECT_EQ(g.exits(ExitReason::PfHidden), hidden);
    // A remap plus invlpg is followed by the shadow (the oracle checks the access).
    g.map(kVa, kData + 0x5000);
    g.invlpg(kVa);
    ASSERT_TRUE(g.access(kVa));
    EXPECT_EQ(g.mmu().walk(GuestVirt(kVa)).hpa, g.p2m().translate(GuestPhys(kData + 0x5000)));
    EXPECT_EQ(g.exits(ExitReason::PtWrite), 2u);
    EXPECT_EQ(g.exits(ExitReason::Invlpg), 1u);
    EXPECT_EQ(g.detail("mmu_unsync"), 0u);
}

TEST(ShadowBackend, UnsyncedLeafWritesDoNotExit) {
    TestGuest g(opts(true));
    g.map(kVa, kData);
    ASSERT_TRUE(g.access(kVa));
    GuestPhys pt = g.entry_pa(g.root(), kVa, 1).page_base();
    // The first write to the leaf table exits once and makes it unsync.
    g.map(kVa + 0x1000, kData + 0x1000);
    EXPECT_EQ(g.exits(ExitReason::PtWrite), 1u);
    EXPECT_EQ(g.detail("mmu_unsync"), 1u);
    EXPECT_EQ(g.detail("pf_emulate"), 0u);
    EXPECT_FALSE(g.memory().watched(pt));
    // Later writes go straight through, even if another watcher reports them.
    g.map(kVa + 0x2000, kData + 0x2000);
    g.backend().on_pt_write(0, pt + 16, 0, kData | kFlags, 8);
    EXPECT_EQ(g.exits(ExitReason::PtWrite), 1u);
    // The new mappings fault into the shadow on first use.
    ASSERT_TRUE(g.access(kVa + 0x1000));
    ASSERT_TRUE(g.access(kVa + 0x2000));
    EXPECT_EQ(g.exits(ExitReason::PfHidden), 3u);
    // Upper-level tables never go unsync: a PDE write still exits.
    g.map(kVa + 0x20'0000, kData + 0x3000);
    EXPECT_EQ(g.exits(ExitReason::PtWrite), 2u);
    EXPECT_EQ(g.detail("pf_emulate"), 1u);
}

TEST(ShadowBackend, InvlpgResyncsUnsyncPage) {
    TestGuest g(opts(true));
    g.map(kVa, kData);
    ASSERT_TRUE(g.access(kVa));
    GuestPhys pt = g.entry_pa(g.root(), kVa, 1).page_base();
    g.map(kVa + 0x1000, kData + 0x1000); // goes unsync
    g.map(kVa, kData + 0x7000);          // no exit: the shadow still holds the old frame
    EXPECT_EQ(g.mmu().walk(GuestVirt(kVa)).hpa, g.p2m().translate(GuestPhys(kData)));
    g.invlpg(kVa);
    EXPECT_EQ(g.detail("mmu_resync"), 1u);
    EXPECT_TRUE(g.memory().watched(pt));
    EXPECT_EQ(g.mmu().walk(GuestVirt(kVa)).hpa, g.p2m().translate(GuestPhys(kData + 0x7000)));
    ASSERT_TRUE(g.access(kVa));
    // Sync again: the next write traps (and makes it unsync again).
    g.map(kVa + 0x3000, kData + 0x3000);
    EXPECT_EQ(g.exits(ExitReason::PtWrite), 2u);
    EXPECT_EQ(g.detail("mmu_unsync"), 2u);
}

TEST(ShadowBackend, Cr3WriteResyncsAllUnsyncPages) {
    TestGuest g(opts(true));
    g.map(kVa, kData);
    g.map(kVa + 0x20'0000, kData + 0x1000);
    ASSERT_TRUE(g.access(kVa));
    ASSERT_TRUE(g.access(kVa + 0x20'0000));
    g.map(kVa + 0x1000, kData + 0x2000);    // first table unsync
    g.map(kVa + 0x20'1000, kData + 0x3000); // second table unsync
    g.map(kVa + 0x20'0000, kData + 0x4000); // remap without invlpg
    EXPECT_EQ(g.detail("mmu_unsync"), 2u);
    g.cr3(g.root()); // guest TLB flush
    EXPECT_EQ(g.detail("mmu_resync"), 2u);
    EXPECT_EQ(g.exits(ExitReason::Cr3Write), 1u);
    ASSERT_TRUE(g.access(kVa + 0x20'0000));
    EXPECT_EQ(g.detail("root_cache_hits") + g.detail("root_cache_misses"), 0u);
}

TEST(ShadowBackend, Cr3SwitchToRecentRootHitsCache) {
    TestGuest g(Options{{"prev_roots", "3"}});
    GuestPhys roots[5] = {g.root(), g.new_table(), g.new_table(), g.new_table(), g.new_table()};
    for (int i = 0; i < 5; ++i) g.map(roots[i], kVa, kData + 0x1000ull * i);
    ASSERT_TRUE(g.access(kVa));
    g.cr3(roots[1]);
    ASSERT_TRUE(g.access(kVa));
    EXPECT_EQ(g.detail("root_cache_misses"), 1u);
    uint64_t hidden = g.exits(ExitReason::PfHidden);
    g.cr3(roots[0]);
    EXPECT_EQ(g.detail("root_cache_hits"), 1u);
    // The cached root still maps kVa: no hidden fault, a 4-reference walk.
    uint64_t refs = g.counters().walks.shadow_refs;
    ASSERT_TRUE(g.access(kVa));
    EXPECT_EQ(g.exits(ExitReason::PfHidden), hidden);
    EXPECT_EQ(g.counters().walks.shadow_refs, refs + 4);
    // Four other address spaces push roots[0] out of the 3-entry cache: its root is zapped.
    for (int i : {1, 2, 3, 4}) {
        g.cr3(roots[i]);
        ASSERT_TRUE(g.access(kVa));
    }
    uint64_t zapped = g.detail("mmu_shadow_zapped");
    EXPECT_GE(zapped, 1u);
    uint64_t created = g.detail("mmu_cache_miss");
    g.cr3(roots[0]);
    EXPECT_EQ(g.detail("root_cache_misses"), 5u);
    ASSERT_TRUE(g.access(kVa));
    // Rebuilt lazily: a new root page, the lower tables found again by guest frame.
    EXPECT_EQ(g.detail("mmu_cache_miss"), created + 1);
    EXPECT_EQ(g.exits(ExitReason::Cr3Write), 7u);
}

TEST(ShadowBackend, NoPrevRootsRebuildsEveryAddressSpace) {
    TestGuest g(Options{{"prev_roots", "0"}});
    GuestPhys other = g.new_table();
    g.map(kVa, kData);
    g.map(other, kVa, kData + 0x1000);
    for (int i = 0; i < 3; ++i) {
        g.cr3(other);
        ASSERT_TRUE(g.access(kVa));
        g.cr3(g.root());
        ASSERT_TRUE(g.access(kVa));
    }
    EXPECT_EQ(g.detail("root_cache_hits"), 0u);
    EXPECT_EQ(g.detail("root_cache_misses"), 6u);
    EXPECT_EQ(g.exits(ExitReason::PfHidden), 6u);
}

TEST(ShadowBackend, FloodedTableIsUnshadowed) {
    TestGuest g(Options{{"unsync", "0"}, {"flood_threshold", "3"}});
    g.map(kVa, kData);
    ASSERT_TRUE(g.access(kVa));
    GuestPhys pt = g.entry_pa(g.root(), kVa, 1).page_base();
    // Writes interleaved with translations through the table never flood it.
    for (int i = 1; i <= 6; ++i) {
        g.map(kVa + 0x1000ull * i, kData + 0x1000ull * i);
        ASSERT_TRUE(g.access(kVa + 0x1000ull * i)); // no VPID: the exit flushed the TLB
    }
    EXPECT_EQ(g.detail("mmu_flooded"), 0u);
    EXPECT_TRUE(g.memory().watched(pt));
    // Three writes in a row without a translation: unshadowed on the third.
    for (uint64_t i = 100; i < 103; ++i) g.write_u64(pt + 8 * i, 0x1234'5000 | kFlags);
    EXPECT_EQ(g.detail("mmu_flooded"), 1u);
    EXPECT_FALSE(g.memory().watched(pt));
    uint64_t exits = g.exits(ExitReason::PtWrite);
    EXPECT_EQ(exits, 9u);
    g.write_u64(pt + 8 * 200, 0);
    EXPECT_EQ(g.exits(ExitReason::PtWrite), exits);
    // Using the table again shadows it again.
    ASSERT_TRUE(g.access(kVa));
    EXPECT_TRUE(g.memory().watched(pt));
}

TEST(ShadowBackend, PageBudgetZapsLru) {
    TestGuest g(Options{{"page_budget", "16"}});
    constexpr uint64_t k2M = 0x20'0000;
    for (uint64_t r = 0; r < 16; ++r) g.map(kVa + r * k2M, kData + r * 0x1000);
    auto pt_of = [&](uint64_t r) { return g.entry_pa(g.root(), kVa + r * k2M, 1).page_base(); };
    // Root, PDPT, PD and ten leaf tables: 13 pages, the most a fault may start with.
    for (uint64_t r = 0; r < 10; ++r) ASSERT_TRUE(g.access(kVa + r * k2M));
    EXPECT_EQ(g.detail("budget_zapped"), 0u);
    // Table 1 used again: an exit empties the TLB (no VPID), so the access walks through it.
    g.backend().on_timer(0);
    ASSERT_TRUE(g.access(kVa + k2M));
    // The 11th table evicts the least recently used: table 0, not table 1.
    ASSERT_TRUE(g.access(kVa + 10 * k2M));
    EXPECT_EQ(g.detail("budget_zapped"), 1u);
    EXPECT_EQ(g.mmu().tables().find(pt_of(0), 1), kNoPage);
    EXPECT_NE(g.mmu().tables().find(pt_of(1), 1), kNoPage);
    ASSERT_TRUE(g.access(kVa + 11 * k2M));
    EXPECT_EQ(g.mmu().tables().find(pt_of(2), 1), kNoPage);
    EXPECT_NE(g.mmu().tables().find(pt_of(1), 1), kNoPage);
    // Everything still translates correctly, and the pool never exceeded the budget.
    for (uint64_t r = 0; r < 16; ++r) ASSERT_TRUE(g.access(kVa + r * k2M + 8));
    EXPECT_LE(g.detail("shadow_pages"), 16u);
    EXPECT_LE(g.mmu().tables().live_pages(), 16u);
}

TEST(ShadowBackend, StaleShadowEntryTripsOracle) {
    TestGuest g(opts(true));
    g.map(kVa, kData);
    ASSERT_TRUE(g.access(kVa));
    g.map(kVa + 0x1000, kData + 0x1000); // the leaf table goes unsync
    // A buggy guest remaps kVa and skips the invlpg; the next exit flushes the TLB (no VPID).
    g.map(kVa, kData + 0x9000);
    g.backend().on_timer(0);
    try {
        g.access(kVa);
        FAIL() << "stale shadow entry not detected";
    } catch (const OracleMismatch& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("shadow"), std::string::npos) << what;
        EXPECT_NE(what.find("0x1000000000"), std::string::npos) << what;
        EXPECT_NE(what.find(fmt::format("{:#x}", g.p2m().translate(GuestPhys(kData)).value())),
                  std::string::npos)
            << what;
    }
}

TEST(ShadowBackend, MissedPtWriteLeavesStaleEntryThatTripsOracle) {
    TestGuest g(opts(false));
    g.map(kVa, kData);
    ASSERT_TRUE(g.access(kVa));
    // The write bypasses the watch (as if the engine had lost it): the shadow goes stale.
    g.memory().write_u64(g.entry_pa(g.root(), kVa, 1), (kData + 0x4000) | kFlags);
    g.invlpg(kVa);
    EXPECT_THROW(g.access(kVa), OracleMismatch);
}

TEST(ShadowBackend, LargeShadowMappingOnlyWithoutProtectedPageInside) {
    TestGuest g;
    constexpr uint64_t k2M = 0x20'0000;
    // Region A (at 32 MiB) holds no guest table: a 2M shadow leaf, a 3-reference walk.
    g.map_2m(g.root(), kVa, 0x200'0000);
    ASSERT_TRUE(g.access(kVa + 0x1234));
    ShadowWalk w = g.mmu().walk(GuestVirt(kVa + 0x1234));
    EXPECT_EQ(w.page_shift, 21u);
    EXPECT_EQ(w.refs, 3);
    EXPECT_EQ(g.detail("large_mappings"), 1u);
    // Region B holds a shadowed guest table (the tables start at 1 MiB): split to 4K.
    g.map(kVa + 4 * k2M, kData); // a leaf table at ~1 MiB, shadowed by the access below
    ASSERT_TRUE(g.access(kVa + 4 * k2M));
    g.map_2m(g.root(), kVa + k2M, 0);
    ASSERT_TRUE(g.access(kVa + k2M + 0x10'1000));
    w = g.mmu().walk(GuestVirt(kVa + k2M + 0x10'1000));
    EXPECT_EQ(w.page_shift, 12u);
    EXPECT_EQ(w.refs, 4);
    EXPECT_EQ(g.detail("large_splits"), 1u);
    // A table newly shadowed inside region A drops its large leaf; the region is then split.
    g.set_table_cursor(0x200'0000 + 0x3000);
    g.map(kVa + 8 * k2M, kData + 0x1000);
    ASSERT_TRUE(g.access(kVa + 8 * k2M));
    EXPECT_EQ(g.detail("large_zapped"), 1u);
    ASSERT_TRUE(g.access(kVa + 0x5678));
    w = g.mmu().walk(GuestVirt(kVa + 0x5678));
    EXPECT_EQ(w.page_shift, 12u);
    EXPECT_EQ(w.hpa, g.p2m().translate(GuestPhys(0x200'0000 + 0x5678)));
}

TEST(ShadowBackend, EveryGuestPageFaultAndCr3WriteExits) {
    TestGuest g;
    for (int i = 0; i < 5; ++i) g.backend().on_guest_fault(0, 14, GuestVirt(kVa), 2);
    g.backend().on_guest_fault(0, 13, GuestVirt(0), 0); // #GP is not intercepted
    for (int i = 0; i < 4; ++i) g.cr3(g.root());
    EXPECT_EQ(g.exits(ExitReason::PfGuest), 5u);
    EXPECT_EQ(g.detail("pf_guest"), 5u);
    EXPECT_EQ(g.exits(ExitReason::Cr3Write), 4u);
    g.backend().on_timer(0);
    g.backend().on_io(0, 0x3f8, true);
    g.backend().on_hlt(0);
    g.backend().on_syscall(0);
    g.backend().on_sensitive(0, "cpuid ");
    EXPECT_EQ(g.counters().exits.total(), 13u);
    // CR0 writes and CR3 reads exit under shadow paging; CR0 reads and LGDT do not.
    g.backend().on_sensitive(0, "mov cr0, rax");
    g.backend().on_sensitive(0, "mov rax, cr3");
    g.backend().on_sensitive(0, "mov rax, cr0");
    g.backend().on_sensitive(0, "lgdt [rip + 0x100]");
    EXPECT_EQ(g.exits(ExitReason::Other), 3u);
}

TEST(ShadowBackend, VpidKeepsTheTlbAcrossExits) {
    TestGuest with(opts(true), true), without(opts(true), false);
    for (TestGuest* g : {&with, &without}) {
        g->map(kVa, kData);
        ASSERT_TRUE(g->access(kVa));
        g->backend().on_timer(0);
        ASSERT_TRUE(g->access(kVa));
    }
    EXPECT_EQ(with.counters().walks.walks, 2u);
    EXPECT_EQ(without.counters().walks.walks, 3u);
}

TEST(ShadowBackend, CyclesComeFromTheCostModel) {
    TestGuest g;
    g.map(kVa, kData);
    ASSERT_TRUE(g.access(kVa));
    CycleBreakdown c = g.backend().cycles(1000);
    EXPECT_DOUBLE_EQ(c.base, 1000);
    EXPECT_DOUBLE_EQ(c.exit, 2000);             // one hidden fault
    EXPECT_DOUBLE_EQ(c.walk, 5 * 20);           // five shadow references
    EXPECT_DOUBLE_EQ(c.handler, 1000 + 4 * 20); // handler + four guest entries read
}

TEST(ShadowBackend, UnknownOptionIsRejected) {
    EXPECT_THROW(TestGuest(Options{{"unsnyc", "1"}}), std::invalid_argument);
    EXPECT_THROW(TestGuest(Options{{"flood_threshold", "x"}}), std::invalid_argument);
}

// Several vCPUs: the shadow pages are the VM's, each vCPU has its own TLB and walk caches, and a
// change to a present shadow entry on one vCPU flushes the others (KVM's kvm_flush_remote_tlbs):
// a vCPU running in the guest is kicked (a remote_flush exit), a halted one flushes when it
// next runs. Either way its next access walks, although its translation did not change.
TEST(ShadowBackend, SeveralVcpusShareShadowPagesAndAreFlushedRemotely) {
    TestGuest g(opts(false), /*vpid=*/true, /*pwc=*/true);
    ShadowBackend& b = g.backend();
    g.map(kVa, kData);
    g.map(kVa + 0x1000, kData + 0x1000);
    ASSERT_TRUE(g.access(kVa));
    ASSERT_TRUE(g.access(kVa + 0x1000));
    EXPECT_EQ(g.exits(ExitReason::PfHidden), 2u);
    b.on_vcpu_start(1);
    b.on_vcpu_switch(1);
    // vCPU 1's TLB is empty, the shadow tables are not: one walk, no hidden fault.
    uint64_t walks = g.counters().walks.walks;
    ASSERT_TRUE(g.access(kVa));
    EXPECT_EQ(g.counters().walks.walks, walks + 1);
    ASSERT_TRUE(g.access(kVa));
    EXPECT_EQ(g.counters().walks.walks, walks + 1);
    EXPECT_EQ(g.exits(ExitReason::PfHidden), 2u);
    EXPECT_EQ(g.detail("remote_flush_requests"), 0u);

    // vCPU 0 remaps kVa + 0x1000: the emulated write changes a present shadow leaf, so vCPU 1,
    // running in the guest, is kicked. vCPU 0's own TLB is flushed as with one vCPU.
    b.on_vcpu_switch(0);
    g.map(kVa + 0x1000, kData + 0x5000);
    EXPECT_EQ(g.exits(ExitReason::PtWrite), 1u);
    EXPECT_EQ(g.exits(ExitReason::RemoteFlush), 1u);
    EXPECT_EQ(g.detail("remote_flush_requests"), 1u);
    EXPECT_EQ(g.detail("remote_flush_kicks"), 1u);
    EXPECT_EQ(g.detail("remote_flush_deferred"), 0u);
    // vCPU 1 serves the request before it runs: its TLB held kVa in the L1 and the STLB.
    b.on_vcpu_switch(1);
    EXPECT_EQ(g.detail("remote_flush_entries"), 2u);
    walks = g.counters().walks.walks;
    ASSERT_TRUE(g.access(kVa));
    EXPECT_EQ(g.counters().walks.walks, walks + 1);

    // vCPU 1 halts: the next request is left pending (no kick, no exit) and served on its turn.
    b.on_hlt(0);
    b.on_vcpu_switch(0);
    g.map(kVa + 0x1000, kData + 0x6000);
    EXPECT_EQ(g.exits(ExitReason::RemoteFlush), 1u);
    EXPECT_EQ(g.detail("remote_flush_requests"), 2u);
    EXPECT_EQ(g.detail("remote_flush_deferred"), 1u);
    b.on_vcpu_switch(1);
    EXPECT_EQ(g.detail("remote_flush_entries"), 4u);
    // An IPI wakes it: the hlt exit was taken already, so the injection takes none.
    b.on_ipi_receive(0, 0xf0);
    EXPECT_EQ(g.exits(ExitReason::Ipi), 0u);
    EXPECT_EQ(g.detail("ipi_receives_woken"), 1u);
    walks = g.counters().walks.walks;
    ASSERT_TRUE(g.access(kVa));
    EXPECT_EQ(g.counters().walks.walks, walks + 1);
    // Running, it takes an exit for an IPI; so does the sender's APIC write.
    b.on_ipi_receive(0, 0xf0);
    b.on_ipi_send(0, 0x520, 0xf1, 1);
    EXPECT_EQ(g.exits(ExitReason::Ipi), 2u);
}

// Each vCPU has its own shadow root and cache of previous roots; a root another vCPU uses is not
// zapped when it leaves one vCPU's cache.
TEST(ShadowBackend, SeveralVcpusKeepTheirOwnRoots) {
    TestGuest g(opts(true));
    ShadowBackend& b = g.backend();
    GuestPhys first = g.root();
    g.map(kVa, kData);
    ASSERT_TRUE(g.access(kVa));
    b.on_vcpu_start(1);
    // vCPU 0 moves through four other address spaces: its cache (3 previous roots) pushes the
    // first root out, but vCPU 1 runs on it.
    for (int i = 0; i < 4; ++i) {
        GuestPhys other = g.new_table();
        g.map(other, kVa, kData + 0x1000 * (i + 1));
        g.cr3(other);
        ASSERT_TRUE(g.access(kVa));
    }
    EXPECT_EQ(g.detail("root_cache_misses"), 4u);
    b.on_vcpu_switch(1);
    EXPECT_EQ(g.mmu().current_root().gfn, first);
    uint64_t hidden = g.exits(ExitReason::PfHidden);
    g.cr3(first); // the functional side follows vCPU 1's CR3 (the test guest has one)
    ASSERT_TRUE(g.access(kVa));
    EXPECT_EQ(g.exits(ExitReason::PfHidden), hidden); // its shadow tables are still there
    EXPECT_EQ(g.detail("mmu_shadow_zapped"), 0u);
}
