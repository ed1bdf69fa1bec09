// Random map/unmap/protect/switch sequences on hand-built guest tables, with invalidations
// issued as a correct OS would: every backend's translation must equal p2m(reference walk).
// The backends' own oracles throw on the first disagreement.
#include "mmu_fixtures.h"

#include "engine/output/report_json.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace vmmu;
using namespace vmmu::testing;

namespace {

struct Config {
    std::string backend;
    bool caches;        // PWC, nested TLB and the data-cache hierarchy
    unsigned ept_shift; // slat only
    bool pcid;          // guest uses PCIDs with no-flush CR3 writes
    std::string profile;
};

void PrintTo(const Config& c, std::ostream* os) {
    *os << c.backend << " caches=" << c.caches << " ept_shift=" << c.ept_shift << " pcid=" << c.pcid
        << " " << c.profile;
}

std::string config_name(const ::testing::TestParamInfo<Config>& info) {
    const Config& c = info.param;
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
    // With `loops`, some steps run a loop body of a few blocks several times: once event by
    // event, then the repeats as one on_loop_repeats().
    Os(Machine& m, Backend& b, bool pcid, uint64_t seed, bool loops = false)
        : m_(m), b_(b), pcid_(pcid), loops_(loops), rng_(seed) {
        m_.tables.on_write = [this](GuestPhys pa, uint64_t old, uint64_t now) {
            if (m_.memory.watched(pa)) b_.on_pt_write(0, pa, old, now, 8);
        };
        roots_[0] = m_.root;
        for (int s = 1; s < kSpaces; ++s) roots_[s] = m_.tables.new_table();
        // The kernel: the same global pages in every address space.
        for (int s = 0; s < kSpaces; ++s)
            for (int k = 0; k < 4; ++k)
                m_.tables.map(roots_[s], GuestVirt(kernel_va(k)),
                              GuestPhys(0x800000 + (uint64_t(k) << 12)), 12,
                              x86::kPteW | x86::kPteG);
    }
    uint64_t cr3_of(int s, bool no_flush) const {
        if (!pcid_) return roots_[s].value();
        return roots_[s].value() | uint64_t(s + 1) | (no_flush ? x86::kCr3NoFlush : 0);
    }
    void step() {
        int op = pick(100);
        if (loops_ && op < 20)
            loop();
        else if (op < 60)
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
    uint64_t pick_va(bool* large) {
        *large = pick(4) == 0;
        int k = pick(10);
        if (k == 0) return kernel_va(pick(4)) + 8 * pick(512);
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
        bool was_mapped = m_.tables.reference(roots_[s], GuestVirt(va)).has_value();
        m_.tables.map(roots_[s], GuestVirt(va), GuestPhys(pa), large ? 21 : 12,
                      pick(3) ? kRw : x86::kPteU);
        if (was_mapped) changed(s, va);
    }
    // Leaf entry of va in space s, if its tables exist and it is present.
    std::optional<GuestPhys> leaf(int s, uint64_t va, bool large) {
        if (!m_.tables.reference(roots_[s], GuestVirt(va))) return std::nullopt;
        return m_.tables.leaf_entry(roots_[s], GuestVirt(va), large ? 2 : 1);
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
            if (!upgrade || pick(2)) changed(s, va);
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
        auto r =
            x86::walk(roots_[current_], va, [&](GuestPhys pa) { return m_.memory.read_u64(pa); });
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

    // A loop body of one to three blocks, each fetching one mapped page and making up to four
    // accesses the current tables allow, among few pages so that they share TLB sets; then the
    // body runs again up to 40 times.
    void loop() {
        std::vector<std::pair<uint64_t, GuestPhys>> ok;
        for (int tries = 0; tries < 24 && ok.size() < 12; ++tries) {
            bool large;
            uint64_t va = pick(2) ? small_va(pick(8) * 16) + 8 * pick(512) : pick_va(&large);
            auto r = x86::walk(roots_[current_], va,
                               [&](GuestPhys pa) { return m_.memory.read_u64(pa); });
            if (r.ok) ok.push_back({va, r.pa});
        }
        if (ok.empty()) return;
        size_t blocks = std::min<size_t>(1 + pick(3), ok.size()), next = 0;
        std::vector<Fetch> fetches;
        std::vector<std::vector<DataAccess>> accesses(blocks);
        for (size_t b = 0; b < blocks; ++b) {
            fetches.push_back(Fetch{GuestVirt(ok[next].first), ok[next].second, 4, 1, false});
            ++next;
            for (int i = pick(5); i > 0 && ok.size() - next > blocks - b - 1; --i, ++next) {
                auto [va, pa] = ok[next];
                auto r = x86::walk(roots_[current_], va,
                                   [&](GuestPhys p) { return m_.memory.read_u64(p); });
                bool write = r.writable && pick(3) == 0;
                accesses[b].push_back(DataAccess{GuestVirt(va), pa, 8, write, va >> 63 == 0});
            }
        }
        std::vector<BlockEvents> body;
        for (size_t b = 0; b < blocks; ++b) {
            b_.on_fetch(fetches[b]);
            for (const DataAccess& a : accesses[b]) b_.on_access(a);
            body.push_back(BlockEvents{fetches[b], accesses[b], {}});
        }
        // Events that leave the body's accesses valid may come between its runs (the vCPU sends
        // the repeats of the blocks that ran last, whatever came since): other accesses, an
        // exit, an INVLPG of one of its pages.
        for (int e = pick(4); e > 0; --e) {
            int op = pick(3);
            if (op == 0)
                access();
            else if (op == 1)
                b_.on_timer(0);
            else
                b_.on_invlpg(0, GuestVirt(ok[pick(static_cast<int>(ok.size()))].first));
        }
        // Each repeat accesses the body's pages at offsets of its own (half of them the body's):
        // the data caches must see them in order, whichever way the repeats arrive.
        uint64_t k = 1 + pick(40);
        std::vector<std::vector<uint16_t>> offsets(blocks);
        for (size_t b = 0; b < blocks; ++b) {
            for (uint64_t pass = 0; pass < k; ++pass)
                for (const DataAccess& a : accesses[b])
                    offsets[b].push_back(
                        static_cast<uint16_t>(pick(2) ? a.va.page_offset() : 8 * pick(512)));
            body[b].offsets = offsets[b];
        }
        b_.on_loop_repeats(body, k);
        ++loops_run;
        if (blocks > 1) ++multi_block_loops_run;
    }

public:
    uint64_t loops_run = 0, multi_block_loops_run = 0;

private:
    Machine& m_;
    Backend& b_;
    bool pcid_;
    bool loops_;
    std::mt19937_64 rng_;
    GuestPhys roots_[kSpaces];
    bool stale_[kSpaces] = {};
    int current_ = 0;
};

class TranslationProperty : public ::testing::TestWithParam<Config> {};

// The backend environment a Config asks for, every translation checked.
void configure(Machine& m, const Config& c) {
    m.env.pwc = c.caches;
    m.env.ntlb = c.caches;
    m.env.caches = c.caches; // and the data-cache hierarchy
    m.env.ept_page_shift = c.ept_shift;
    m.env.oracle = true;
    if (c.pcid) {
        m.env.initial_cr4 |= x86::kCr4Pcide;
        m.env.initial_cr3 = m.root.value() | 1;
    }
}

} // namespace

TEST_P(TranslationProperty, RandomMapUnmapProtectSwitchKeepsTranslationsEqualToReference) {
    const Config& c = GetParam();
    for (uint64_t seed : {1u, 2u, 3u}) {
        Machine m(64ull << 20, c.profile);
        configure(m, c);
        auto b = m.make(c.backend);
        Os os(m, *b, c.pcid, seed * 7919 + c.ept_shift);
        for (int i = 0; i < 20000; ++i)
            ASSERT_NO_THROW(os.step()) << "seed " << seed << " step " << i;
        // The sequences must exercise both paths, or the property says nothing.
        EXPECT_GT(os.accesses, 4000u);
        EXPECT_GT(os.faults, 400u);
        const TlbCounters& t = b->counters().tlb;
        EXPECT_GT(b->counters().walks.walks, 100u);
        EXPECT_LT(t.stlb_misses, t.l1d_lookups + t.l1i_lookups); // some lookups hit
    }
}

namespace {

// Sends every event to two backends of the same scheme; a loop's repeats reach the first one
// event by event (Backend's own on_loop_repeats) and the second through its on_loop_repeats.
class Tee final : public Backend {
public:
    Tee(Backend& each, Backend& repeats) : each_(each), rep_(repeats) {}
    std::string name() const override { return "tee"; }
    void on_access(const DataAccess& a) override {
        both([&](Backend& b) { b.on_access(a); });
    }
    void on_fetch(const Fetch& f) override {
        both([&](Backend& b) { b.on_fetch(f); });
    }
    void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) override {
        each_.Backend::on_loop_repeats(body, k);
        rep_.on_loop_repeats(body, k);
    }
    void on_cr3_write(uint64_t rip, uint64_t v) override {
        both([&](Backend& b) { b.on_cr3_write(rip, v); });
    }
    void on_cr4_write(uint64_t rip, uint64_t v) override {
        both([&](Backend& b) { b.on_cr4_write(rip, v); });
    }
    void on_invlpg(uint64_t rip, GuestVirt va) override {
        both([&](Backend& b) { b.on_invlpg(rip, va); });
    }
    void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t old, uint64_t now,
                     uint8_t size) override {
        both([&](Backend& b) { b.on_pt_write(rip, pa, old, now, size); });
    }
    void on_guest_fault(uint64_t rip, uint8_t v, GuestVirt cr2, uint32_t code) override {
        both([&](Backend& b) { b.on_guest_fault(rip, v, cr2, code); });
    }
    void on_timer(uint64_t rip) override {
        both([&](Backend& b) { b.on_timer(rip); });
    }
    void on_syscall(uint64_t rip) override {
        both([&](Backend& b) { b.on_syscall(rip); });
    }
    void on_hlt(uint64_t rip) override {
        both([&](Backend& b) { b.on_hlt(rip); });
    }
    void on_io(uint64_t rip, uint16_t port, bool w) override {
        both([&](Backend& b) { b.on_io(rip, port, w); });
    }
    void on_sensitive(uint64_t rip, std::string_view m) override {
        both([&](Backend& b) { b.on_sensitive(rip, m); });
    }
    void on_world_switch() override {
        both([](Backend& b) { b.on_world_switch(); });
    }
    void on_host_remap(GuestPhys f, HostRemap w) override {
        both([&](Backend& b) { b.on_host_remap(f, w); });
    }
    const BackendCounters& counters() const override { return each_.counters(); }
    CycleBreakdown cycles(uint64_t n) const override { return each_.cycles(n); }

private:
    template <class F> void both(F f) {
        f(each_);
        f(rep_);
    }
    Backend& each_;
    Backend& rep_;
};

} // namespace

// A loop's repeated executions sent as one on_loop_repeats() (as the vCPU sends them) must
// count exactly what sending every event would: the same sequences as above, with loop bodies
// of one to three blocks that run many times, given to two backends, one each way; timer events
// (exits, which flush the TLBs without VPID) and CR3 writes come between loops.
TEST_P(TranslationProperty, LoopRepeatsCountExactlyAsEveryEventDoes) {
    const Config& c = GetParam();
    for (uint64_t seed : {1u, 2u}) {
        Machine m(64ull << 20, c.profile);
        configure(m, c);
        auto each = m.make(c.backend), repeats = m.make(c.backend);
        Tee tee(*each, *repeats);
        Os os(m, tee, c.pcid, seed * 104729 + c.ept_shift, true);
        for (int i = 0; i < 8000; ++i) {
            ASSERT_NO_THROW(os.step()) << "seed " << seed << " step " << i;
            if (i % 97 == 0) tee.on_timer(0);
            if (i % 500 == 0) {
                auto a = backend_json(each->counters(), each->cycles(i));
                auto b = backend_json(repeats->counters(), repeats->cycles(i));
                ASSERT_EQ(a.dump(1), b.dump(1)) << "seed " << seed << " step " << i;
            }
        }
        EXPECT_GT(os.loops_run, 1000u);
        EXPECT_GT(os.multi_block_loops_run, 500u);
        EXPECT_EQ(backend_json(each->counters(), each->cycles(0)).dump(1),
                  backend_json(repeats->counters(), repeats->cycles(0)).dump(1));
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
