// Property test: random map/unmap/protect/remap/free/switch sequences by a correct guest OS
// keep every shadow translation equal to p2m(reference walk of the guest tables), under every
// combination of the shadow policies. The backend's oracle checks each access; the test also
// walks the shadow tables directly for every mapped page at the end.
#include "tests/shadow_test_guest.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <tuple>
#include <vector>

using namespace vmmu;
using namespace vmmu::shadow;
using namespace vmmu::shadow::test;

namespace {

constexpr uint64_t kUser = 0x10'0000'0000;     // 4K regions 0..7, 2M regions 8..11
constexpr uint64_t kKernel = 0x4000'0000'0000; // one leaf table shared by every space
constexpr uint64_t k2M = 0x20'0000;
constexpr int kSpaces = 5, kSmallRegions = 8, kLargeRegions = 4, kPagesPerRegion = 16;

struct Combo {
    bool unsync;
    int flood;
    int budget;
    int prev_roots;
    bool vpid;
    bool pwc;
};

class Property : public ::testing::TestWithParam<Combo> {};

class RandomOs {
public:
    RandomOs(TestGuest& g, uint64_t seed) : g_(g), rng_(seed) {
        spaces_.push_back(g.root());
        for (int i = 1; i < kSpaces; ++i) spaces_.push_back(g.new_table());
        shared_pt_ = g.new_table();
        // Every space links the shared kernel leaf table at the same PDE.
        for (GuestPhys root : spaces_)
            g.write_u64(g.entry_pa(root, kKernel, 2), shared_pt_.value() | kFlags);
    }

    uint64_t pick(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
    GuestPhys space() { return spaces_[pick(spaces_.size())]; }
    bool current(GuestPhys root) const { return root == g_.current(); }

    uint64_t small_va() {
        return kUser + pick(kSmallRegions) * k2M + pick(kPagesPerRegion) * kPageSize4K;
    }
    uint64_t large_va() { return kUser + (kSmallRegions + pick(kLargeRegions)) * k2M; }
    uint64_t kernel_va() { return kKernel + pick(kPagesPerRegion) * kPageSize4K; }
    uint64_t any_va() {
        uint64_t k = pick(10);
        uint64_t va = k < 6   ? small_va()
                      : k < 8 ? large_va() + pick(512) * kPageSize4K
                              : kernel_va();
        return va + 8 * pick(512);
    }
    uint64_t data_frame() { return 0x180'0000 + pick(0x280'0000 >> 12) * kPageSize4K; }

    // Writes a leaf entry and invalidates as a correct OS does.
    void set_leaf(GuestPhys root, uint64_t va, int level, uint64_t value) {
        GuestPhys e = g_.entry_pa(root, va, level);
        uint64_t old = g_.memory().read_u64(e);
        g_.write_u64(e, value);
        // Upgrades (not-present -> present, read-only -> writable) need no invalidation.
        if (!(old & kPteP) || value == (old | kPteW)) return;
        bool kernel = va >= kKernel;
        if (current(root) || kernel) {
            if (pick(4) == 0)
                g_.cr3(g_.current());
            else
                g_.invlpg(va);
        }
    }

    void step() {
        uint64_t op = pick(100);
        if (op < 45) {
            uint64_t va = any_va();
            bool write = pick(3) == 0;
            if (!g_.access(va, write)) demand_fault(va, write);
        } else if (op < 55) {
            set_leaf(space(), small_va(), 1, data_frame() | kFlags);
        } else if (op < 60) {
            set_leaf(space(), small_va(), 1, 0);
        } else if (op < 64) {
            protect(space(), small_va(), pick(2) == 0);
        } else if (op < 68) {
            uint64_t va = large_va();
            set_leaf(space(), va, 2, pick(16) * k2M | kFlags | kPtePs); // [0, 32M): may hold tables
        } else if (op < 70) {
            set_leaf(space(), large_va(), 2, 0);
        } else if (op < 73) {
            set_leaf(spaces_[0], kernel_va(), 1, pick(3) ? data_frame() | kFlags : 0);
        } else if (op < 76) {
            free_leaf_table(space(), kUser + pick(kSmallRegions) * k2M);
        } else if (op < 79) {
            scribble();
        } else if (op < 89) {
            g_.cr3(space());
        } else if (op < 91) {
            g_.cr3(g_.current());
        } else if (op < 95) {
            g_.backend().on_timer(0);
        } else {
            uint64_t va = any_va();
            g_.backend().on_guest_fault(0, 14, GuestVirt(va), 0);
        }
    }

    // The guest takes a #PF, maps the page (or makes it writable) and retries.
    void demand_fault(uint64_t va, bool write) {
        g_.backend().on_guest_fault(0, 14, GuestVirt(va), write ? 2 : 0);
        if (va >= kUser + kSmallRegions * k2M && va < kKernel) {
            g_.write_u64(g_.entry_pa(g_.current(), va, 2), pick(16) * k2M | kFlags | kPtePs);
        } else {
            GuestPhys e = g_.entry_pa(g_.current(), va, 1);
            uint64_t old = g_.memory().read_u64(e);
            g_.write_u64(e, (old & kPteP) ? old | kPteW : data_frame() | kFlags);
        }
        // Upgrades only: no invalidation needed, the retry must succeed.
        ASSERT_TRUE(g_.access(va, write)) << fmt::format("{:#x}", va);
    }

    void protect(GuestPhys root, uint64_t va, bool read_only) {
        GuestPhys e = g_.entry_pa(root, va, 1);
        uint64_t old = g_.memory().read_u64(e);
        if (!(old & kPteP)) return;
        set_leaf(root, va, 1, read_only ? old & ~kPteW : old | kPteW);
    }

    // munmap of a whole region: the leaf table is unlinked and its frame reused.
    void free_leaf_table(GuestPhys root, uint64_t region_va) {
        GuestPhys pde = g_.entry_pa(root, region_va, 2);
        uint64_t v = g_.memory().read_u64(pde);
        if (!(v & kPteP)) return;
        g_.write_u64(pde, 0);
        if (current(root)) g_.cr3(root);
        g_.recycle_table(GuestPhys(v & kPteAddrMask));
    }

    // A freed table frame used as data: plain writes (reported while the frame is watched).
    void scribble() {
        const auto& free = g_.free_tables();
        if (free.empty()) return;
        GuestPhys f = free[pick(free.size())];
        for (int i = 0; i < 4; ++i) g_.write_u64(f + 8 * pick(512), rng_());
    }

    // Every page the current space maps, through the shadow tables (filled on demand).
    void sweep() {
        for (GuestPhys root : spaces_) {
            g_.cr3(root);
            for (uint64_t va = kUser; va < kUser + (kSmallRegions + kLargeRegions) * k2M;
                 va += kPageSize4K)
                check(va);
            for (uint64_t p = 0; p < kPagesPerRegion; ++p) check(kKernel + p * kPageSize4K);
        }
    }
    void check(uint64_t va) {
        GuestPhys pa;
        if (!g_.reference(g_.current(), va, pa)) return;
        ASSERT_TRUE(g_.access(va));
        ShadowWalk w = g_.mmu().walk(GuestVirt(va));
        ASSERT_TRUE(w.ok) << fmt::format("{:#x}", va);
        ASSERT_EQ(w.hpa, g_.p2m().translate(pa)) << fmt::format("{:#x}", va);
    }

private:
    TestGuest& g_;
    std::mt19937_64 rng_;
    std::vector<GuestPhys> spaces_;
    GuestPhys shared_pt_;
};

TEST_P(Property, RandomGuestKeepsShadowEqualToReference) {
    const Combo& c = GetParam();
    Options options = {{"unsync", c.unsync ? "1" : "0"},
                       {"flood_threshold", std::to_string(c.flood)},
                       {"page_budget", std::to_string(c.budget)},
                       {"prev_roots", std::to_string(c.prev_roots)}};
    for (uint64_t seed : {1u, 2u}) {
        TestGuest g(options, c.vpid, c.pwc);
        RandomOs os(g, seed * 7919 + c.budget);
        for (int i = 0; i < 4000; ++i) {
            ASSERT_NO_THROW(os.step()) << "step " << i << " seed " << seed;
            if (HasFatalFailure()) return;
        }
        os.sweep();
        if (HasFatalFailure()) return;
        // The run exercised what the options enable.
        const auto& d = g.counters().details;
        EXPECT_GT(g.exits(ExitReason::PfHidden), 0u);
        EXPECT_GT(g.exits(ExitReason::PtWrite), 0u);
        if (c.unsync) {
            EXPECT_GT(d.at("mmu_resync"), 0u);
        } else {
            EXPECT_EQ(d.at("mmu_unsync"), 0u);
        }
        if (c.flood) {
            EXPECT_GT(d.at("mmu_flooded"), 0u);
        } else {
            EXPECT_EQ(d.at("mmu_flooded"), 0u);
        }
        if (c.budget < 100) {
            EXPECT_GT(d.at("budget_zapped"), 0u);
        }
        EXPECT_LE(d.at("shadow_pages"), static_cast<uint64_t>(c.budget));
        if (c.prev_roots) {
            EXPECT_GT(d.at("root_cache_hits"), 0u);
        } else {
            EXPECT_EQ(d.at("root_cache_hits"), 0u);
        }
    }
}

std::vector<Combo> combos() {
    std::vector<Combo> out;
    for (bool unsync : {false, true})
        for (int flood : {0, 1, 3})
            for (int budget : {24, 4096})
                for (int prev : {0, 3})
                    for (bool vpid : {false, true})
                        for (bool pwc : {false, true})
                            out.push_back({unsync, flood, budget, prev, vpid, pwc});
    return out;
}

INSTANTIATE_TEST_SUITE_P(ShadowOptions, Property, ::testing::ValuesIn(combos()),
                         [](const ::testing::TestParamInfo<Combo>& i) {
                             const Combo& c = i.param;
                             return fmt::format("unsync{}_flood{}_budget{}_prev{}_vpid{}_pwc{}",
                                                int(c.unsync), c.flood, c.budget, c.prev_roots,
                                                int(c.vpid), int(c.pwc));
                         });

} // namespace
