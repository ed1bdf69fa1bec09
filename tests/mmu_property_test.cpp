// Random map/unmap/protect/switch sequences on hand-built guest tables, with invalidations
// issued as a correct OS would: every backend's translation must equal p2m(reference walk).
// The backends' own oracles throw on the first disagreement.
#include "mmu_fixtures.h"

#include <gtest/gtest.h>

#include <random>

using namespace vmmu;
using namespace vmmu::testing;

namespace {

struct Config {
    std::string backend;
    bool caches;        // PWC and nested TLB
    unsigned ept_shift; // slat only
    bool pcid;          // guest uses PCIDs with no-flush CR3 writes
    std::string profile;
};

void PrintTo(const Config &c, std::ostream *os) {
    *os << c.backend << " caches=" << c.caches << " ept_shift=" << c.ept_shift << " pcid=" << c.pcid
        << " " << c.profile;
}

std::string config_name(const ::testing::TestParamInfo<Config> &info) {
    const Config &c = info.param;
    return c.backend + (c.caches ? "_Caches" : "_NoCaches") + "_Ept" + std::to_string(c.ept_shift) +
           (c.pcid ? "_Pcid" : "") + "_" +
           (c.profile == "penryn-2008"    ? "Penryn"
            : c.profile == "nehalem-2009" ? "Nehalem"
                                          : "Skylake");
}

constexpr uint64_t kRw = x86::kPteW | x86::kPteU;
constexpr int kSpaces = 3;
constexpr int kSmallPages = 64;
constexpr int kLargePages = 8;
uint64_t small_va(int i) { return 0x7f00'0000'0000 + uint64_t(i) * 0x41000; }
uint64_t large_va(int i) { return 0x6000'0000'0000 + (uint64_t(i) << 21); }
uint64_t kernel_va(int i) { return 0xffff'8000'0000'0000 + (uint64_t(i) << 12); }

class Os {
  public:
    Os(Machine &m, Backend &b, bool pcid, uint64_t seed) : m_(m), b_(b), pcid_(pcid), rng_(seed) {
        m_.tables.on_write = [this](GuestPhys pa, uint64_t old, uint64_t now) {
            if (m_.memory.watched(pa))
                b_.on_pt_write(0, pa, old, now, 8);
        };
        roots_[0] = m_.root;
        for (int s = 1; s < kSpaces; ++s)
            roots_[s] = m_.tables.new_table();
        // The kernel: the same global pages in every address space.
        for (int s = 0; s < kSpaces; ++s)
            for (int k = 0; k < 4; ++k)
                m_.tables.map(roots_[s], kernel_va(k), 0x800000 + (uint64_t(k) << 12), 12,
                              x86::kPteW | x86::kPteG);
    }
    uint64_t cr3_of(int s, bool no_flush) const {
        if (!pcid_)
            return roots_[s];
        return roots_[s] | uint64_t(s + 1) | (no_flush ? x86::kCr3NoFlush : 0);
    }
    void step() {
        int op = pick(100);
        if (op < 60)
            access();
        else if (op < 75)
            map();
        else if (op < 83)
            unmap();
        else if (op < 91)
            protect();
        else
            switch_to(pick(kSpaces));
    }
    uint64_t accesses = 0, faults = 0;

  private:
    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
    uint64_t pick_va(bool *large) {
        *large = pick(4) == 0;
        int k = pick(10);
        if (k == 0)
            return kernel_va(pick(4)) + 8 * pick(512);
        return (*large ? large_va(pick(kLargePages)) + (uint64_t(pick(512)) << 12)
                       : small_va(pick(kSmallPages))) +
               8 * pick(512);
    }
    // A change to a live leaf: flush it now if its space is current, else on the next switch.
    void changed(int s, uint64_t va) {
        if (s == current_)
            b_.on_invlpg(0, GuestVirt(va));
        else
            stale_[s] = true;
    }
    void map() {
        int s = pick(kSpaces);
        bool large = pick(4) == 0;
        uint64_t va = large ? large_va(pick(kLargePages)) : small_va(pick(kSmallPages));
        uint64_t pa = large ? 0x2000000 + (uint64_t(pick(16)) << 21)
                            : 0x1000000 + (uint64_t(pick(4096)) << 12);
        bool was_mapped = m_.tables.reference(roots_[s], va).has_value();
        m_.tables.map(roots_[s], va, pa, large ? 21 : 12, pick(3) ? kRw : x86::kPteU);
        if (was_mapped)
            changed(s, va);
    }
    // Leaf entry of va in space s, if its tables exist and it is present.
    std::optional<GuestPhys> leaf(int s, uint64_t va, bool large) {
        if (!m_.tables.reference(roots_[s], va))
            return std::nullopt;
        return m_.tables.leaf_entry(roots_[s], va, large ? 2 : 1);
    }
    void unmap() {
        int s = pick(kSpaces);
        bool large = pick(4) == 0;
        uint64_t va = large ? large_va(pick(kLargePages)) : small_va(pick(kSmallPages));
        if (auto e = leaf(s, va, large)) {
            m_.tables.write_entry(*e, 0);
            changed(s, va);
        }
    }
    void protect() {
        int s = pick(kSpaces);
        bool large = pick(4) == 0;
        uint64_t va = large ? large_va(pick(kLargePages)) : small_va(pick(kSmallPages));
        if (auto e = leaf(s, va, large)) {
            uint64_t v = m_.tables.read_entry(*e);
            bool upgrade = !(v & x86::kPteW);
            m_.tables.write_entry(*e, v ^ x86::kPteW);
            // Linux skips the flush when it only adds rights; a later write re-walks.
            if (!upgrade || pick(2))
                changed(s, va);
        }
    }
    void switch_to(int s) {
        b_.on_cr3_write(0, cr3_of(s, !stale_[s]));
        stale_[s] = false;
        current_ = s;
    }
    void access() {
        bool large;
        uint64_t va = pick_va(&large);
        bool write = pick(3) == 0;
        auto r = x86::walk(GuestPhys(roots_[current_]), va,
                           [&](GuestPhys pa) { return m_.memory.read_u64(pa); });
        if (!r.ok || (write && !r.writable)) {
            // The functional layer raises #PF; the guest would fix or kill, we move on.
            ++faults;
            b_.on_guest_fault(0, 14, GuestVirt(va), write ? 2 : 0);
            return;
        }
        ++accesses;
        if (pick(8) == 0) {
            b_.on_fetch(Fetch{GuestVirt(va), r.pa, 4, 1, false});
            return;
        }
        b_.on_access(DataAccess{GuestVirt(va), r.pa, 8, write, va >> 63 == 0});
    }

    Machine &m_;
    Backend &b_;
    bool pcid_;
    std::mt19937_64 rng_;
    uint64_t roots_[kSpaces] = {};
    bool stale_[kSpaces] = {};
    int current_ = 0;
};

class TranslationProperty : public ::testing::TestWithParam<Config> {};

} // namespace

TEST_P(TranslationProperty, RandomMapUnmapProtectSwitchKeepsTranslationsEqualToReference) {
    const Config &c = GetParam();
    for (uint64_t seed : {1u, 2u, 3u}) {
        Machine m(64ull << 20, c.profile);
        m.env.pwc = c.caches;
        m.env.ntlb = c.caches;
        m.env.ept_page_shift = c.ept_shift;
        m.env.oracle = true;
        if (c.pcid) {
            m.env.initial_cr4 |= x86::kCr4Pcide;
            m.env.initial_cr3 = m.root | 1;
        }
        auto b = m.make(c.backend);
        Os os(m, *b, c.pcid, seed * 7919 + c.ept_shift);
        for (int i = 0; i < 20000; ++i)
            ASSERT_NO_THROW(os.step()) << "seed " << seed << " step " << i;
        // The sequences must exercise both paths, or the property says nothing.
        EXPECT_GT(os.accesses, 4000u);
        EXPECT_GT(os.faults, 400u);
        const TlbCounters &t = b->counters().tlb;
        EXPECT_GT(b->counters().walks.walks, 100u);
        EXPECT_LT(t.stlb_misses, t.l1d_lookups + t.l1i_lookups); // some lookups hit
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, TranslationProperty,
                         ::testing::Values(Config{"native", false, 12, false, "nehalem-2009"},
                                           Config{"native", true, 12, false, "nehalem-2009"},
                                           Config{"native", true, 12, true, "skylake-2015"},
                                           Config{"slat", false, 12, false, "nehalem-2009"},
                                           Config{"slat", true, 12, false, "nehalem-2009"},
                                           Config{"slat", true, 21, false, "nehalem-2009"},
                                           Config{"slat", true, 30, true, "skylake-2015"},
                                           Config{"slat", true, 12, false, "penryn-2008"},
                                           Config{"shadow", false, 12, false, "penryn-2008"},
                                           Config{"shadow", true, 12, false, "nehalem-2009"},
                                           Config{"shadow", true, 12, true, "skylake-2015"}),
                         config_name);
