// `vmmu demo walk`: the 2D walk laid out as the 5×5 grid, from a real walk over hand-built
// guest tables and the slat backend's own EPT; and the inspection interface each scheme offers
// (engine/mmu/inspect.h).
#include "engine/experiment/walk_demo.h"
#include "engine/output/walk_report.h"
#include "engine/slat/slat_backend.h"
#include "mmu_fixtures.h"

#include <fmt/format.h>

#include <gtest/gtest.h>

using namespace vmmu;
using namespace vmmu::testing;

namespace {
constexpr GuestVirt kVa{0x80'0000'5000}; // in the user data region (vmmu/abi.h)
constexpr GuestPhys kPa{0x2345000};
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
    EXPECT_NE(text.find("(data)"), std::string::npos);
}

TEST(DemoWalk, ColdWalkUnderFiveLevelEptFillsTwentyNineCellsInGridOrder) {
    Machine m;
    m.env.ept_levels = 5;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    std::vector<WalkRef> cold;
    Walk2dResult r = slat(b).traced_walk(kVa, false, false, cold);
    ASSERT_EQ(r.status, Walk2dResult::Status::Ok);
    EXPECT_EQ(r.refs, 29u);
    WalkGrid g = walk_grid(cold, nullptr, 5);
    EXPECT_EQ(grid_references(g), 29);
    for (int row = 0; row < 5; ++row)
        for (int col = 0; col < 6; ++col)
            EXPECT_EQ(g[row][col].order, row == 4 && col == 5 ? 0 : row * 6 + col + 1)
                << row << "," << col;
    std::string text = grid_text(g, false);
    EXPECT_NE(text.find("nL5"), std::string::npos);
    EXPECT_NE(text.find("29 0x"), std::string::npos);
    // Through the inspection interface, as `vmmu demo walk` sees it.
    Walk2d w = b->inspector()->trace_2d(kVa, WalkCaches::None);
    EXPECT_EQ(w.references, 29u);
    EXPECT_EQ(b->inspector()->nested_levels(), 5);
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
    m.tables.map(m.root, GuestVirt(0x7f12'3456'7000), kPa + 0x1000, 12,
                 kRw); // outside the user regions
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto va = pick_data_va(m.memory, m.root);
    ASSERT_TRUE(va.has_value());
    EXPECT_EQ(*va, kVa.value());
    auto refs = guest_walk(m.memory, m.root, kVa);
    ASSERT_EQ(refs.size(), 4u);
    EXPECT_EQ(GuestPhys(refs.back().entry & x86::kPteAddrMask), kPa);
}

namespace {
// A scheme that opts out of inspection: every event goes to a native backend, which it hides.
class Opaque final : public Backend {
public:
    explicit Opaque(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
    std::string name() const override { return "opaque"; }
    void on_access(const DataAccess& a) override { inner_->on_access(a); }
    void on_fetch(const Fetch& f) override { inner_->on_fetch(f); }
    void on_cr3_write(uint64_t rip, uint64_t cr3) override { inner_->on_cr3_write(rip, cr3); }
    void on_cr4_write(uint64_t rip, uint64_t cr4) override { inner_->on_cr4_write(rip, cr4); }
    void on_invlpg(uint64_t rip, GuestVirt va) override { inner_->on_invlpg(rip, va); }
    void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t old_value, uint64_t new_value,
                     uint8_t size) override {
        inner_->on_pt_write(rip, pa, old_value, new_value, size);
    }
    void on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2, uint32_t code) override {
        inner_->on_guest_fault(rip, vector, cr2, code);
    }
    void on_timer(uint64_t rip) override { inner_->on_timer(rip); }
    void on_syscall(uint64_t rip) override { inner_->on_syscall(rip); }
    void on_hlt(uint64_t rip) override { inner_->on_hlt(rip); }
    void on_io(uint64_t rip, uint16_t port, bool w) override { inner_->on_io(rip, port, w); }
    void on_sensitive(uint64_t rip, std::string_view m) override { inner_->on_sensitive(rip, m); }
    void on_world_switch() override { inner_->on_world_switch(); }
    void on_host_remap(GuestPhys frame, HostRemap what) override {
        inner_->on_host_remap(frame, what);
    }
    const BackendCounters& counters() const override { return inner_->counters(); }
    CycleBreakdown cycles(uint64_t n) const override { return inner_->cycles(n); }

private:
    std::unique_ptr<Backend> inner_;
};

Inspector& inspect(std::unique_ptr<Backend>& b) {
    Inspector* in = b->inspector();
    if (!in) throw std::logic_error(b->name() + " has no inspector");
    return *in;
}
} // namespace

TEST(DemoWalk, SlatExplainsAColdWalkAs24References) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    Inspector& in = inspect(b);
    EXPECT_EQ(in.walk_shape(), WalkShape::TwoDimensional);
    EXPECT_EQ(in.guest_root(), m.root);
    Walk2d cold = in.trace_2d(kVa, WalkCaches::None);
    EXPECT_EQ(cold.references, 24u);
    ASSERT_EQ(cold.steps.size(), 24u);
    for (const WalkRef& r : cold.steps) EXPECT_EQ(r.hit_in, HitIn::None);
    EXPECT_EQ(grid_references(walk_grid(cold.steps, nullptr)), 24);
    EXPECT_EQ(in.nested_page_shift(), 12u);
    EXPECT_THROW(in.walk_1d(kVa), std::logic_error);
}

TEST(DemoWalk, SlatExplainsCachedWalksWithFewerReferencesThanCold) {
    Machine m;
    m.env.pwc = true;
    m.env.ntlb = true;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("slat");
    Inspector& in = inspect(b);
    Walk2d cold = in.trace_2d(kVa, WalkCaches::None);
    Walk2d first = in.trace_2d(kVa, WalkCaches::FromEmpty);
    Walk2d warm = in.trace_2d(kVa, WalkCaches::Warm);
    EXPECT_EQ(cold.references, 24u);
    EXPECT_LT(first.references, cold.references);
    EXPECT_LT(warm.references, first.references);
    // Emptying the caches first gives the same walk again.
    EXPECT_EQ(in.trace_2d(kVa, WalkCaches::FromEmpty).references, first.references);
}

TEST(DemoWalk, ShadowWalksItsOwnTablesAfterAHiddenFaultFill) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("shadow");
    Inspector& in = inspect(b);
    EXPECT_EQ(in.walk_shape(), WalkShape::ShadowTables);
    EXPECT_EQ(in.guest_root(), m.root);
    Walk1d w = in.walk_1d(kVa);
    EXPECT_TRUE(w.filled); // nothing has touched kVa yet: the shadow tables lack it
    ASSERT_TRUE(w.ok);
    ASSERT_EQ(w.refs.size(), 4u);
    EXPECT_EQ(w.refs.front().level, 4);
    EXPECT_EQ(w.hpa, m.p2m.translate(kPa));
    Walk1d again = in.walk_1d(kVa);
    EXPECT_FALSE(again.filled);
    EXPECT_EQ(again.refs.size(), 4u);
    EXPECT_THROW(in.trace_2d(kVa, WalkCaches::None), std::logic_error);
}

TEST(DemoWalk, NativeWalksTheGuestsOwnTables) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    auto b = m.make("native");
    Inspector& in = inspect(b);
    EXPECT_EQ(in.walk_shape(), WalkShape::GuestTables);
    Walk1d w = in.walk_1d(kVa + 0x18);
    ASSERT_TRUE(w.ok);
    EXPECT_FALSE(w.filled);
    auto refs = guest_walk(m.memory, m.root, kVa);
    ASSERT_EQ(w.refs.size(), refs.size());
    for (size_t i = 0; i < refs.size(); ++i) EXPECT_EQ(w.refs[i].address, refs[i].address) << i;
    EXPECT_EQ(w.hpa, m.p2m.linear(kPa + 0x18));
    EXPECT_FALSE(in.walk_1d(kVa + 0x1000).ok); // not mapped
}

TEST(DemoWalk, WalkDemoLaysOutEachBackendByItsWalkShape) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    std::vector<std::unique_ptr<Backend>> backends;
    for (auto* name : {"native", "shadow", "slat"}) backends.push_back(m.make(name));
    WalkDemo d = explain_walks(m.memory, backends, std::nullopt);
    nlohmann::ordered_json json = walk_demo_json(d);
    std::string text = walk_demo_text(d);
    EXPECT_EQ(json["va"], fmt::format("{:#x}", kVa.value()));
    EXPECT_EQ(json["native"]["references"], 4);
    EXPECT_EQ(json["shadow"]["filled_by_hidden_fault"], true);
    EXPECT_EQ(json["slat"]["cold_references"], 24);
    EXPECT_NE(text.find("native: 4 references"), std::string::npos);
    EXPECT_NE(text.find("slat: cold 2D walk"), std::string::npos);
}

TEST(DemoWalk, WalkDemoRefusesABackendWithoutAnInspector) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(m.make("slat"));
    backends.push_back(std::make_unique<Opaque>(m.make("native")));
    try {
        explain_walks(m.memory, backends, kVa.value());
        FAIL() << "the walk demo accepted a backend without an inspector";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("backend 'opaque' cannot explain its walks"),
                  std::string::npos)
            << e.what();
    }
}

TEST(DemoWalk, WalkDemoRefusesAnEmptyBackendList) {
    Machine m;
    std::vector<std::unique_ptr<Backend>> none;
    EXPECT_THROW(explain_walks(m.memory, none, kVa.value()), std::invalid_argument);
}

TEST(DemoWalk, PrefersALargeGuestPageAndShowsEveryFinalAddress) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    constexpr GuestVirt kBig{0x80'0040'0000};
    m.tables.map(m.root, kBig, GuestPhys(0x2400000), 21, kRw);
    std::vector<std::unique_ptr<Backend>> backends;
    for (auto* name : {"native", "shadow", "slat"}) backends.push_back(m.make(name));
    WalkDemo d = explain_walks(m.memory, backends, std::nullopt);
    EXPECT_EQ(d.va, kBig.value());
    ASSERT_EQ(d.guest.size(), 3u); // gL4, gL3, then the 2M leaf at gL2
    EXPECT_EQ(d.gpa, 0x2400000u);
    // A 2M guest page under 4K EPT, (n + 1)(m + 1) - 1 with n = 3 guest levels and m = 4 EPT
    // levels: 19 references, the gL1 row empty.
    EXPECT_EQ(d.backends[2].grid.cold_references, 19u);
    // Every scheme ends at the same host address.
    EXPECT_EQ(d.backends[1].walk.hpa.value(), d.backends[2].grid.hpa);
    EXPECT_EQ(d.backends[0].walk.hpa.value(), d.backends[2].grid.hpa);
    std::string text = walk_demo_text(d);
    EXPECT_NE(text.find("P W U PS -> 2M page gPA 0x2400000"), std::string::npos) << text;
    EXPECT_NE(text.find(fmt::format("-> data gPA 0x2400000 -> hPA {:#x}", d.backends[2].grid.hpa)),
              std::string::npos);
    for (size_t at = 0, end; at < text.size(); at = end + 1) {
        end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        EXPECT_LE(end - at, 100u) << text.substr(at, end - at);
    }
}

TEST(DemoWalk, AnUnmappedAddressIsAFaultNamingAMappedOne) {
    Machine m;
    m.tables.map(m.root, kVa, kPa, 12, kRw);
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(m.make("slat"));
    try {
        explain_walks(m.memory, backends, kVa.value() + 0x1000);
        FAIL() << "walked an unmapped address";
    } catch (const WalkFault& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("page fault"), std::string::npos) << what;
        EXPECT_NE(what.find("gL1 entry"), std::string::npos) << what;
        EXPECT_NE(what.find(fmt::format("--va {:#x}", kVa.value())), std::string::npos) << what;
    }
}

TEST(DemoWalk, CanonicalAddressesAreThoseWithBits63To47Equal) {
    EXPECT_TRUE(canonical_va(0x7fff'ffff'f000));
    EXPECT_TRUE(canonical_va(0xffff'8000'0000'0000));
    EXPECT_FALSE(canonical_va(0x8000'0000'0000));
    EXPECT_FALSE(canonical_va(0x0001'0000'0000'0000));
}

TEST(DemoWalk, EntriesAreDecoded) {
    EXPECT_EQ(decode_entry(0x1234027, 4, "gPA"), "P W U -> table gPA 0x1234000");
    EXPECT_EQ(decode_entry(0x8000000000200083, 2, "gPA"), "P W S NX PS -> 2M page gPA 0x200000");
    EXPECT_EQ(decode_entry(0x5001, 1, "hPA"), "P RO S -> 4K page hPA 0x5000");
    EXPECT_EQ(decode_entry(0x1234026, 1, "gPA"), "not present: page fault");
}
