// `vmmu demo walk`: the 2D walk laid out as the 5×5 grid, from a real walk over hand-built
// guest tables and the slat backend's own EPT.
#include "engine/experiment/walk_demo.h"
#include "engine/slat/slat_backend.h"
#include "mmu_fixtures.h"

#include <gtest/gtest.h>

using namespace vmmu;
using namespace vmmu::testing;

namespace {
constexpr uint64_t kVa = 0x80'0000'5000; // in the user data region (vmmu/abi.h)
constexpr uint64_t kPa = 0x2345000;
constexpr uint64_t kRw = x86::kPteW | x86::kPteU;

SlatBackend& slat(std::unique_ptr<Backend>& b) { return dynamic_cast<SlatBackend&>(*b); }
} // namespace

TEST(DemoWalk, ColdWalkFillsTwentyFourCellsInGridOrder) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    std::vector<WalkRef> cold;
    Walk2dResult r = slat(b).traced_walk(kVa, false, false, cold);
    ASSERT_EQ(r.status, Walk2dResult::Status::Ok);
    EXPECT_EQ(r.refs, 24u);
    WalkGrid g = walk_grid(cold, nullptr);
    EXPECT_EQ(grid_references(g), 24);
    // Row by row: four nested references, then the guest entry; the last cell is the data.
    for (int row = 0; row < 5; ++row)
        for (int col = 0; col < 5; ++col) {
            if (row == 4 && col == 4) {
                EXPECT_EQ(g[row][col].order, 0);
                continue;
            }
            EXPECT_EQ(g[row][col].order, row * 5 + col + 1) << row << "," << col;
        }
    // Guest entries sit at p2m(gPA); nested ones in the EPT pool.
    for (int gl = 4; gl >= 1; --gl) {
        GuestPhys entry = m.tables.leaf_entry(m.root, kVa, gl);
        EXPECT_EQ(g[grid_row(gl)][4].address, m.p2m.translate(entry).value()) << gl;
        for (int col = 0; col < 4; ++col)
            EXPECT_GE(g[grid_row(gl)][col].address, slat(b).ept().pool_base().value());
    }
    std::string text = grid_text(g, false);
    EXPECT_NE(text.find("gL4 (CR3)"), std::string::npos);
    EXPECT_NE(text.find("24 0x"), std::string::npos);
    EXPECT_NE(text.find("(the data access)"), std::string::npos);
}

TEST(DemoWalk, WarmWalkMarksEveryCellReadOrSavedByACache) {
    Machine m;
    m.env.pwc = true;
    m.env.ntlb = true;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    std::vector<WalkRef> cold, first, again;
    slat(b).traced_walk(kVa, false, false, cold);
    Walk2dResult rf = slat(b).traced_walk(kVa, true, true, first);
    Walk2dResult ra = slat(b).traced_walk(kVa, true, false, again);
    EXPECT_LT(rf.refs, 24u); // the nested PWC already helps inside one walk
    EXPECT_LT(ra.refs, rf.refs);
    for (auto* warm : {&first, &again}) {
        WalkGrid g = walk_grid(cold, warm);
        int read = 0, saved = 0;
        for (auto& row : g)
            for (auto& c : row) {
                if (!c.order) continue;
                EXPECT_FALSE(c.warm.empty()) << "cell " << c.order << " has no warm status";
                (c.warm == "ref" ? read : saved)++;
            }
        EXPECT_EQ(read + saved, 24);
        EXPECT_EQ(uint64_t(read), warm == &first ? rf.refs : ra.refs);
    }
    // Warm: the guest PWC supplies the level-1 table and the NTLB both remaining gPAs.
    WalkGrid g = walk_grid(cold, &again);
    EXPECT_EQ(g[grid_row(4)][4].warm, "PWC");
    EXPECT_EQ(g[grid_row(1)][4].warm, "ref");
    EXPECT_EQ(g[grid_row(0)][0].warm, "NTLB");
}

TEST(DemoWalk, TwoReferencesInOneCellAreRejected) {
    std::vector<WalkRef> trace = {{WalkDim::Nested, 4, 4, 0x1000, HitIn::None},
                                  {WalkDim::Nested, 4, 4, 0x2000, HitIn::None}};
    EXPECT_THROW(walk_grid(trace, nullptr), std::logic_error);
}

TEST(DemoWalk, PicksTheFirstUserDataPageAndWalksItNatively) {
    Machine m;
    m.tables.map(m.root, 0x7f12'3456'7000, kPa + 0x1000, 12, kRw); // outside the user regions
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto va = pick_data_va(m.memory, GuestPhys(m.root));
    ASSERT_TRUE(va.has_value());
    EXPECT_EQ(*va, kVa);
    auto refs = guest_walk(m.memory, GuestPhys(m.root), kVa);
    ASSERT_EQ(refs.size(), 4u);
    EXPECT_EQ(refs.back().entry & x86::kPteAddrMask, kPa);
}
