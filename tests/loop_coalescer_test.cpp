// The loop coalescer on its own, without Unicorn: synthetic blocks and accesses go through two
// coalescers, one coalescing and one not, and a recording observer behind each must see the same
// stream once on_loop_repeats is expanded (docs/ARCHITECTURE.md, "Loop coalescing").
#include "engine/core/loop_coalescer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <variant>
#include <vector>

namespace vmmu {
namespace {

// Records every event as text, expanding loop repeats through GuestObserver's default. Accesses
// are recorded whole (addresses and size): a repeated pass matches its body page by page, but
// carries its own offsets (guest_events.h, BlockEvents::access).
class Recorder : public GuestObserver {
public:
    std::vector<std::string> events;
    std::vector<std::pair<size_t, uint64_t>> loops; // (body blocks, passes) of each repeat

    void on_fetch(const Fetch& f) override {
        events.push_back("fetch " + std::to_string(f.va.value()) + " " + std::to_string(f.bytes) +
                         " " + std::to_string(f.instructions) + (f.user ? " u" : " k"));
    }
    void on_access(const DataAccess& a) override {
        events.push_back(std::string(a.write ? "write " : "read ") + std::to_string(a.va.value()) +
                         " " + std::to_string(a.pa.value()) + " " + std::to_string(a.size) +
                         (a.user ? " u" : " k"));
    }
    void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) override {
        loops.emplace_back(body.size(), k);
        GuestObserver::on_loop_repeats(body, k);
    }
    void on_timer(uint64_t rip) override { events.push_back("timer " + std::to_string(rip)); }
};

struct Block {
    uint64_t addr;
    uint32_t size, n;
    bool user = false;
};
struct Access {
    uint64_t va, gpa;
    unsigned size;
    bool write;
};
struct Settle {}; // the end of a uc_emu_start, a quantum boundary
struct Timer {    // another guest event, broadcast
    uint64_t rip;
};
using Step = std::variant<Block, Access, Settle, Timer>;

// Feeds the steps to one coalescer and returns what its observer saw.
Recorder play(const std::vector<Step>& steps, bool coalesce) {
    Recorder rec;
    std::vector<GuestObserver*> observers{&rec};
    RunStop stop;
    LoopCoalescer c(observers, coalesce, stop);
    c.refresh();
    for (const Step& s : steps) {
        if (auto* b = std::get_if<Block>(&s)) {
            c.set_user(b->user);
            c.block(b->addr, b->size, b->n);
        } else if (auto* a = std::get_if<Access>(&s)) {
            c.access(a->va, a->gpa, a->size, a->write);
        } else if (std::holds_alternative<Settle>(s)) {
            c.settle();
        } else {
            c.broadcast([&](GuestObserver& o) { o.on_timer(std::get<Timer>(s).rip); });
        }
    }
    c.settle();
    EXPECT_FALSE(stop.stopped());
    return rec;
}

// Both ways must agree; returns the coalesced recorder to check how much was coalesced.
Recorder expect_same_stream(const std::vector<Step>& steps) {
    Recorder each = play(steps, false), coalesced = play(steps, true);
    EXPECT_TRUE(each.loops.empty());
    EXPECT_EQ(coalesced.events, each.events);
    return coalesced;
}

uint64_t passes(const Recorder& r) {
    uint64_t k = 0;
    for (auto& [len, n] : r.loops) k += n;
    return k;
}

// Block i of a body: its own code address, and accesses to a page of its own (offsets move).
void add_block(std::vector<Step>& s, unsigned i, unsigned pass, unsigned accesses) {
    s.push_back(Block{0x100000 + 0x40 * i, 0x20, 5 + i});
    for (unsigned j = 0; j < accesses; ++j) {
        uint64_t va = 0x800000000000ull + 0x1000 * (i + 1) + 8 * ((pass + j) % 500);
        s.push_back(
            Access{va, 0x200000 + 0x1000 * (i + 1) + 8 * ((pass + j) % 500), 8, j % 2 == 1});
    }
}

std::vector<Step> loop(unsigned body_blocks, unsigned passes, unsigned accesses = 2) {
    std::vector<Step> s;
    for (unsigned p = 0; p < passes; ++p)
        for (unsigned i = 0; i < body_blocks; ++i) add_block(s, i, p, accesses);
    return s;
}

TEST(LoopCoalescer, BodiesOfOneToFourBlocksGoAsRepeats) {
    for (unsigned len = 1; len <= LoopCoalescer::kMaxLoopBlocks; ++len) {
        SCOPED_TRACE(len);
        Recorder r = expect_same_stream(loop(len, 50));
        ASSERT_EQ(r.loops.size(), 1u);
        EXPECT_EQ(r.loops[0].first, len);
        EXPECT_EQ(r.loops[0].second, 49u); // the first pass is sent in full, the others counted
    }
}

TEST(LoopCoalescer, FiveBlocksAreTooManyForABody) {
    Recorder r = expect_same_stream(loop(5, 20));
    EXPECT_TRUE(r.loops.empty());
}

TEST(LoopCoalescer, LoopInterruptedMidBody) {
    for (unsigned len = 1; len <= 4; ++len)
        for (unsigned stop_at = 0; stop_at < len; ++stop_at)
            for (unsigned accesses_done = 0; accesses_done <= 2; ++accesses_done) {
                SCOPED_TRACE(testing::Message() << len << " " << stop_at << " " << accesses_done);
                std::vector<Step> s = loop(len, 10);
                for (unsigned i = 0; i < stop_at; ++i) add_block(s, i, 10, 2);
                add_block(s, stop_at, 10, accesses_done);
                // Something else runs: another block, touching another page.
                s.push_back(Block{0x300000, 0x10, 3});
                s.push_back(Access{0x800000100000ull, 0x900000, 4, true});
                Recorder r = expect_same_stream(s);
                // Passes 2 to 10, and the interrupted one if all of it ran.
                bool whole = stop_at == len - 1 && accesses_done == 2;
                EXPECT_EQ(passes(r), 9u + whole);
            }
}

TEST(LoopCoalescer, PageChangeInsideALoop) {
    for (bool gva : {true, false}) {
        std::vector<Step> s = loop(3, 12);
        // Pass 12: block 1's second access moves to another page (of gVA, or of gPA only).
        add_block(s, 0, 12, 2);
        s.push_back(Block{0x100040, 0x20, 6});
        s.push_back(Access{0x800000002000ull, 0x202000, 8, false});
        s.push_back(gva ? Access{0x800000042000ull, 0x242000, 8, true}
                        : Access{0x800000002000ull, 0x242000, 8, true});
        add_block(s, 2, 12, 2);
        // And the loop goes on as before, on its old pages.
        std::vector<Step> more = loop(3, 12);
        s.insert(s.end(), more.begin(), more.end());
        Recorder r = expect_same_stream(s);
        EXPECT_GE(r.loops.size(), 2u);
    }
}

TEST(LoopCoalescer, AccessKindUserModeAndBlockShapeEndALoop) {
    std::vector<Step> s = loop(2, 8);
    add_block(s, 0, 8, 1);
    s.push_back(Access{0x800000001008ull, 0x201008, 8, false}); // a read where a write was
    s.push_back(Block{0x100000, 0x20, 5, true});                // the same code, in user mode
    std::vector<Step> more = loop(2, 8);
    s.insert(s.end(), more.begin(), more.end());
    s.push_back(Block{0x100000, 0x18, 5}); // shorter block at the body's address
    s.push_back(Block{0x100000, 0x20, 4}); // fewer instructions
    more = loop(2, 8);
    s.insert(s.end(), more.begin(), more.end());
    add_block(s, 0, 8, 0);
    s.push_back(Access{0x800000001010ull, 0x201010, 4, false}); // a narrower access
    more = loop(2, 8);
    s.insert(s.end(), more.begin(), more.end());
    expect_same_stream(s);
}

// Each repeat reaches the observers at its own offsets: a loop striding through a page is seen
// access for access, and one long enough to record more than kMaxPendingOffsets offsets goes out
// in several on_loop_repeats, the stream unchanged.
TEST(LoopCoalescer, RepeatsKeepTheirOffsetsAndLongLoopsGoOutInParts) {
    std::vector<Step> s;
    const unsigned n = 3 * LoopCoalescer::kMaxPendingOffsets / 2 + 7;
    for (unsigned p = 0; p < n; ++p) {
        s.push_back(Block{0x100000, 0x20, 5});
        s.push_back(Access{0x800000001000ull + 8 * (p % 512), 0x201000 + 8 * (p % 512), 8, true});
        s.push_back(Access{0x800000003000ull + 64 * (p % 64), 0x203000 + 64 * (p % 64), 8, false});
    }
    Recorder r = expect_same_stream(s);
    EXPECT_EQ(passes(r), n - 1);
    ASSERT_EQ(r.loops.size(), 4u); // 8192 passes of 2 offsets each, three times, then the rest
    EXPECT_EQ(r.loops[0].second, LoopCoalescer::kMaxPendingOffsets / 2);
}

TEST(LoopCoalescer, ExtraAccessAndTooManyAccesses) {
    std::vector<Step> s = loop(1, 10, 3);
    add_block(s, 0, 10, 4); // one access more than the body block made
    s.push_back(Block{0x300000, 0x10, 3});
    // A block with more accesses than a body keeps is never coalesced.
    std::vector<Step> big = loop(1, 6, LoopCoalescer::kMaxRefAccesses + 1);
    s.insert(s.end(), big.begin(), big.end());
    Recorder r = expect_same_stream(s);
    // Passes 2 to 11: the eleventh ran all of its body's accesses, and its extra one is sent
    // after the repeats.
    ASSERT_EQ(r.loops.size(), 1u);
    EXPECT_EQ(r.loops[0].second, 10u);
}

TEST(LoopCoalescer, FlushAtAQuantumBoundary) {
    // A settle (the end of a uc_emu_start) or another event anywhere in a loop: between blocks,
    // between two accesses of a block, right after a block's fetch.
    for (int kind = 0; kind < 2; ++kind)
        for (size_t cut = 1; cut < 40; ++cut) {
            SCOPED_TRACE(testing::Message() << kind << " " << cut);
            std::vector<Step> s = loop(3, 6);
            std::vector<Step> cutting = s;
            cutting.insert(cutting.begin() + static_cast<long>(cut),
                           kind ? Step{Timer{0x1234}} : Step{Settle{}});
            Recorder each = play(cutting, false), coalesced = play(cutting, true);
            EXPECT_EQ(coalesced.events, each.events);
        }
}

TEST(LoopCoalescer, RandomProgramsSeeTheSameStream) {
    std::mt19937_64 rng(12345);
    uint64_t coalesced = 0;
    for (int round = 0; round < 200; ++round) {
        std::vector<Step> s;
        while (s.size() < 600) {
            unsigned len = 1 + rng() % 4, reps = 1 + rng() % 6, acc = rng() % 3;
            for (unsigned p = 0; p < reps; ++p)
                for (unsigned i = 0; i < len; ++i) {
                    add_block(s, i + (rng() % 8 == 0 ? 4 : 0), p, acc + (rng() % 10 == 0));
                    if (rng() % 40 == 0) s.push_back(Settle{});
                    if (rng() % 60 == 0) s.push_back(Timer{rng() % 100});
                }
        }
        SCOPED_TRACE(round);
        coalesced += passes(expect_same_stream(s));
    }
    EXPECT_GT(coalesced, 0u);
}

TEST(LoopCoalescer, OracleMismatchStopsTheRun) {
    struct Failing : GuestObserver {
        void on_access(const DataAccess&) override { throw OracleMismatch("disagrees"); }
    } failing;
    std::vector<GuestObserver*> observers{&failing};
    RunStop stop;
    LoopCoalescer c(observers, true, stop);
    c.refresh();
    c.block(0x100000, 0x20, 5);
    c.access(0x800000001000ull, 0x201000, 8, false);
    ASSERT_TRUE(stop.stopped());
    EXPECT_EQ(stop.request().kind, StopKind::OracleMismatch);
    EXPECT_EQ(stop.request().message, "disagrees");
}

} // namespace
} // namespace vmmu
