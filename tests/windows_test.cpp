// Windows (engine/experiment/windows.h): the engine's snapshots at region markers and sample
// points split every counter exactly, whatever the loop coalescer was doing there. The probe
// guest (tests/guests/probe.c, "roi") knows its regions' instructions and accesses to the unit;
// real workloads check that intervals add up to the whole run, that coalescing changes nothing,
// and that warm-up excludes exactly its instructions.
#include "engine/core/machine.h"
#include "engine/experiment/run.h"
#include "engine/experiment/run_flags.h"
#include "engine/output/run_report.h"
#include "tests/recording_observer.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

namespace vmmu {
namespace {

MachineConfig probe_config(const std::string& cmd) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/tests/probe.elf";
    c.cmdline = cmd;
    c.guest_bytes = uint64_t{64} << 20;
    c.timer_period = 1'000'000;
    c.max_instructions = 50'000'000;
    return c;
}

// What a listener saw at one boundary: the engine's guest counters and what the observer had
// been sent by then.
struct Seen {
    Boundary::Kind kind;
    std::string region;
    uint64_t instructions, data_accesses, observed_accesses;
};

std::vector<Seen> run_probe_roi(bool coalesce, uint64_t sample_at = 0,
                                RunResult* result = nullptr) {
    MachineConfig c = probe_config("roi");
    c.coalesce_blocks = coalesce;
    c.sample_at = sample_at;
    Machine m(c);
    testing::RecordingObserver rec;
    m.attach(rec);
    std::vector<Seen> seen;
    m.on_boundary([&](const Boundary& b) {
        seen.push_back(
            {b.kind, b.region, b.guest.instructions, b.guest.data_accesses, rec.accesses});
    });
    RunResult r = m.run();
    EXPECT_EQ(r.stop, StopKind::Exited) << r.message;
    if (result) *result = r;
    return seen;
}

TEST(Windows, ProbeRegionsHoldExactlyTheInstructionsAndAccessesTheGuestMade) {
    for (bool coalesce : {true, false}) {
        SCOPED_TRACE(coalesce ? "coalescing" : "no coalescing");
        RunResult r;
        auto seen = run_probe_roi(coalesce, 0, &r);
        EXPECT_EQ(r.reported.at("roi.cell"), 2500u);
        // loop, loop, outer { loop }: begin and end of each.
        ASSERT_EQ(seen.size(), 8u);
        const uint64_t passes[] = {1000, 1000, 500};
        size_t loop = 0;
        for (size_t i = 0; i + 1 < seen.size(); ++i) {
            if (seen[i].kind != Boundary::Kind::RegionBegin || seen[i].region != "loop") continue;
            const Seen &b = seen[i], &e = seen[i + 1];
            ASSERT_EQ(e.kind, Boundary::Kind::RegionEnd);
            uint64_t k = passes[loop++];
            EXPECT_EQ(e.instructions - b.instructions, 5 * k + 2);
            EXPECT_EQ(e.data_accesses - b.data_accesses, 2 * k);
            // The observers had been sent exactly the accesses the guest had made.
            EXPECT_EQ(b.observed_accesses, b.data_accesses);
            EXPECT_EQ(e.observed_accesses, e.data_accesses);
        }
        EXPECT_EQ(loop, 3u);
    }
}

// A sample point anywhere inside the loop (mid-block, mid coalesced pass) splits it exactly:
// after 1 + 5 i + j instructions of the region, the guest has made 2 i + (j >= 1) + (j >= 3)
// accesses, and the observers have been sent exactly those.
TEST(Windows, SamplePointInsideACoalescedLoopSplitsItAtTheExactInstruction) {
    auto begin = run_probe_roi(true)[0].instructions;
    for (uint64_t offset :
         {1ull, 2ull, 3ull, 4ull, 5ull, 6ull, 1 + 5 * 377 + 2ull, 1 + 5 * 999 + 4ull}) {
        for (bool coalesce : {true, false}) {
            SCOPED_TRACE(::testing::Message()
                         << "offset " << offset << (coalesce ? " coalescing" : ""));
            auto seen = run_probe_roi(coalesce, begin + offset);
            const Seen* sample = nullptr;
            for (auto& s : seen)
                if (s.kind == Boundary::Kind::Sample) sample = &s;
            ASSERT_NE(sample, nullptr);
            EXPECT_EQ(sample->instructions, begin + offset);
            uint64_t i = (offset - 1) / 5, j = (offset - 1) % 5;
            uint64_t expect = seen[0].data_accesses + 2 * i + (j >= 1) + (j >= 3);
            EXPECT_EQ(sample->data_accesses, expect);
            EXPECT_EQ(sample->observed_accesses, expect);
        }
    }
}

struct GuestError {
    const char* word;
    const char* says;
};
TEST(Windows, MisusedRegionMarkersAreGuestErrorsThatSayWhatToDo) {
    for (auto [word, says] : {GuestError{"roi_unclosed", "was never closed"},
                              GuestError{"roi_end_only", "roi_end() without roi_begin()"},
                              GuestError{"roi_deep", "nest one level at most"},
                              GuestError{"roi_badname", "a region name is"},
                              GuestError{"roi_twice", "is already open"}}) {
        SCOPED_TRACE(word);
        Machine m(probe_config(word));
        RunResult r = m.run();
        EXPECT_EQ(r.stop, StopKind::GuestFault);
        EXPECT_NE(r.message.find(says), std::string::npos) << r.message;
    }
}

class RunWindowsTest : public ::testing::Test {
protected:
    void SetUp() override {
        setenv("VMMU_GUEST_DIR", VMMU_GUEST_DIR, 1);
        setenv("VMMU_PROFILE_DIR", VMMU_SOURCE_DIR "/workloads/profiles", 1);
    }
    static RunOptions gups() {
        RunOptions o;
        o.workload = "gups";
        o.params = {"table_mib=2", "updates=20000"};
        o.guest_mib = 128;
        o.backends = {"native", "shadow", "slat", "ideal"};
        return o;
    }
};

void expect_same(const BackendCounters& a, const BackendCounters& b, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(a.tlb.l1i_lookups, b.tlb.l1i_lookups);
    EXPECT_EQ(a.tlb.l1i_misses, b.tlb.l1i_misses);
    EXPECT_EQ(a.tlb.l1d_lookups, b.tlb.l1d_lookups);
    EXPECT_EQ(a.tlb.l1d_misses, b.tlb.l1d_misses);
    EXPECT_EQ(a.tlb.stlb_lookups, b.tlb.stlb_lookups);
    EXPECT_EQ(a.tlb.stlb_misses, b.tlb.stlb_misses);
    EXPECT_EQ(a.tlb.flushes, b.tlb.flushes);
    EXPECT_EQ(a.tlb.flushed_entries, b.tlb.flushed_entries);
    EXPECT_EQ(a.walks.walks, b.walks.walks);
    EXPECT_EQ(a.walks.refs, b.walks.refs);
    EXPECT_EQ(a.walks.guest_refs, b.walks.guest_refs);
    EXPECT_EQ(a.walks.nested_refs, b.walks.nested_refs);
    EXPECT_EQ(a.walks.shadow_refs, b.walks.shadow_refs);
    EXPECT_EQ(a.walks.pwc_lookups, b.walks.pwc_lookups);
    EXPECT_EQ(a.walks.pwc_hits, b.walks.pwc_hits);
    EXPECT_EQ(a.walks.ntlb_lookups, b.walks.ntlb_lookups);
    EXPECT_EQ(a.walks.ntlb_hits, b.walks.ntlb_hits);
    EXPECT_EQ(a.exits.by_reason, b.exits.by_reason);
    EXPECT_EQ(a.caches.modelled, b.caches.modelled);
    EXPECT_EQ(a.caches.walk, b.caches.walk);
    EXPECT_EQ(a.caches.data, b.caches.data);
    EXPECT_EQ(a.caches.data_misses_from_walks, b.caches.data_misses_from_walks);
}

void expect_same(const GuestCounters& a, const GuestCounters& b) {
    GuestCounters x = a, y = b;
    x.each(y, [](uint64_t& p, uint64_t q) { EXPECT_EQ(p, q); });
}

void expect_close(const CycleBreakdown& a, const CycleBreakdown& b) {
    auto near = [](double x, double y) { EXPECT_NEAR(x, y, 1e-6 * std::max(1.0, std::abs(y))); };
    near(a.base, b.base), near(a.walk, b.walk), near(a.exit, b.exit), near(a.handler, b.handler);
}

TEST_F(RunWindowsTest, IntervalsAddUpToTheWholeRunForEveryCounterAndBackend) {
    RunOptions o = gups();
    o.interval = 77'777; // falls inside blocks and coalesced loops
    RunOutput out = execute_run(o);
    ASSERT_EQ(out.result.stop, StopKind::Exited) << out.result.message;
    ASSERT_GT(out.windows.intervals.size(), 10u);
    SpanCounters sum;
    uint64_t at = 0;
    for (auto& p : out.windows.intervals) {
        EXPECT_EQ(p.start, at);
        EXPECT_EQ(p.counters.guest.instructions, p.end - p.start);
        at = p.end;
        sum += p.counters;
    }
    EXPECT_EQ(at, out.result.guest.instructions);
    expect_same(sum.guest, out.result.guest);
    for (size_t i = 0; i < out.backends.size(); ++i) {
        auto whole = out.backends[i].counters;
        whole.details.clear();
        expect_same(sum.backends[i], whole, out.backends[i].name);
        expect_close(sum.cycles[i], out.backends[i].cycles);
    }
}

TEST_F(RunWindowsTest, WindowsAndIntervalsAreIdenticalWithAndWithoutLoopCoalescing) {
    RunOptions o = gups();
    o.interval = 100'003;
    o.warmup = 1'234'567;
    o.caches = true; // where references hit too: a loop's repeats reach the caches line by line
    RunOutput on = execute_run(o);
    o.coalesce_blocks = false;
    RunOutput off = execute_run(o);
    ASSERT_EQ(on.windows.windows.size(), off.windows.windows.size());
    EXPECT_TRUE(on.windows.windows.contains("updates"));
    for (auto& [name, w] : on.windows.windows) {
        const Window& v = off.windows.windows.at(name);
        EXPECT_EQ(w.repeats, v.repeats);
        EXPECT_EQ(w.first, v.first);
        EXPECT_EQ(w.last, v.last);
        expect_same(w.counters.guest, v.counters.guest);
        for (size_t i = 0; i < on.backends.size(); ++i) {
            expect_same(w.counters.backends[i], v.counters.backends[i], name);
            EXPECT_EQ(w.counters.backends[i].details, v.counters.backends[i].details);
            EXPECT_EQ(w.counters.cycles[i].total(), v.counters.cycles[i].total());
        }
    }
    ASSERT_EQ(on.windows.intervals.size(), off.windows.intervals.size());
    for (size_t p = 0; p < on.windows.intervals.size(); ++p)
        for (size_t i = 0; i < on.backends.size(); ++i)
            expect_same(on.windows.intervals[p].counters.backends[i],
                        off.windows.intervals[p].counters.backends[i], "interval");
}

// The cache hierarchy sees every data access in program order, a coalesced loop's repeats at
// their own offsets: with or without coalescing, every backend's document is the same on several
// workloads (streaming, page-table churn, fork, sessions, large pages), data misses priced or not,
// and each hierarchy was fed exactly the guest's data accesses.
TEST_F(RunWindowsTest, CacheCountersAreIdenticalWithAndWithoutLoopCoalescing) {
    struct Case {
        std::string workload;
        std::vector<std::string> params;
        std::string guest_pages;
        bool price_data;
    };
    const std::vector<Case> cases = {
        {"stream", {"array_mib=1", "iterations=2"}, "4k", false},
        {"mmapchurn", {"rounds=20", "region_kib=64"}, "4k", true},
        {"forkwait", {"n=20"}, "4k", false},
        {"sessions", {"sessions=2", "actions=1", "ws_mib=1", "think_ticks=1"}, "4k", false},
        {"gups", {"table_mib=4", "updates=20000"}, "2m", true}};
    for (const Case& c : cases) {
        SCOPED_TRACE(c.workload);
        RunOptions o;
        o.workload = c.workload;
        o.params = c.params;
        o.echo_console = false;
        o.guest_mib = 128;
        o.guest_pages = c.guest_pages;
        o.backends = {"native", "shadow", "slat", "ideal", "agile"};
        o.caches = true;
        o.price_data = c.price_data;
        RunOutput on = execute_run(o);
        o.coalesce_blocks = false;
        RunOutput off = execute_run(o);
        ASSERT_EQ(run_exit_code(on.result), 0) << run_status(on.result);
        auto a = run_json(on), b = run_json(off);
        a.erase("sim"), b.erase("sim");
        EXPECT_EQ(a.dump(1), b.dump(1));
        for (const BackendResult& r : on.backends) {
            uint64_t fed = 0;
            for (uint64_t n : r.counters.caches.data) fed += n;
            EXPECT_EQ(fed, on.result.guest.data_accesses) << r.name;
        }
    }
}

// Every point is taken, whatever the period: several points may fall in one block (a period
// shorter than a loop pass, at different indices) or in blocks the run passes only once, with
// or without a warm-up that is not a multiple of the period.
TEST_F(RunWindowsTest, EveryIntervalPointIsTakenForAnyPeriodAndWarmup) {
    struct Case {
        std::string workload;
        std::vector<std::string> params;
        uint64_t interval, warmup;
    };
    const std::vector<Case> cases = {{"hello", {}, 77'777, 0},
                                     {"hello", {}, 100'000, 0},
                                     {"gups", {"table_mib=4", "updates=20000"}, 250'001, 0},
                                     {"forkwait", {"n=40"}, 100'000, 300'001},
                                     {"forkwait", {"n=40"}, 100'003, 234'567},
                                     // A warm-up point right after an interval point: both fell
                                     // in one pass of one block on the guest of their time,
                                     // and the second point was lost.
                                     {"hello", {}, 1'000, 2'001},
                                     {"hello", {}, 3'333, 3'334},
                                     {"hello", {}, 3'333, 6'667}};
    for (const Case& c : cases) {
        RunOptions o;
        o.workload = c.workload;
        o.params = c.params;
        o.echo_console = false;
        o.interval = c.interval;
        o.warmup = c.warmup;
        RunOutput out = execute_run(o);
        uint64_t n = out.result.guest.instructions;
        const auto& pts = out.windows.intervals;
        ASSERT_EQ(pts.size(), (n + c.interval - 1) / c.interval) << c.workload << " " << c.interval;
        for (size_t i = 0; i < pts.size(); ++i) {
            EXPECT_EQ(pts[i].start, i * c.interval) << c.workload << " point " << i;
            EXPECT_EQ(pts[i].end, std::min<uint64_t>(n, (i + 1) * c.interval))
                << c.workload << " point " << i;
        }
    }
}

TEST_F(RunWindowsTest, WarmupExcludesExactlyItsInstructionsAndWhatTheyCounted) {
    const uint64_t n = 2'345'679;
    RunOptions o = gups();
    o.interval = n; // the first interval is exactly the warm-up
    RunOutput series = execute_run(o);
    o.interval = 0;
    o.warmup = n;
    RunOutput warm = execute_run(o);
    const Window& whole = warm.windows.windows.at("whole");
    EXPECT_EQ(whole.first, n);
    EXPECT_EQ(whole.counters.guest.instructions, warm.result.guest.instructions - n);
    const SpanCounters& first = series.windows.intervals.at(0).counters;
    EXPECT_EQ(first.guest.instructions, n);
    for (size_t i = 0; i < warm.backends.size(); ++i) {
        BackendCounters expect = warm.backends[i].counters;
        expect -= first.backends[i];
        expect_same(whole.counters.backends[i], expect, warm.backends[i].name);
    }
}

TEST_F(RunWindowsTest, WarmupEndingInsideARegionMeasuresItFromThere) {
    RunOutput plain = execute_run(gups());
    const Window& updates = plain.windows.windows.at("updates");
    RunOptions o = gups();
    o.warmup = updates.first + 12'345;
    RunOutput warm = execute_run(o);
    const Window& cut = warm.windows.windows.at("updates");
    EXPECT_EQ(cut.first, o.warmup);
    EXPECT_EQ(cut.last, updates.last);
    EXPECT_EQ(cut.counters.guest.instructions, updates.last - o.warmup);
    EXPECT_EQ(warm.windows.windows.at("roi").counters.guest.instructions,
              cut.counters.guest.instructions);
    // A warm-up past the region's end leaves no region to measure: the whole run is measured.
    o.warmup = updates.last + 1;
    RunOutput late = execute_run(o);
    EXPECT_FALSE(late.windows.windows.contains("updates"));
    EXPECT_EQ(late.measured_window, "whole");
}

TEST_F(RunWindowsTest, GupsIsMeasuredOnItsUpdatesAndTheTableSaysSo) {
    RunOutput out = execute_run(gups());
    EXPECT_EQ(out.measured_window, "roi");
    const Window& roi = out.windows.windows.at("roi");
    EXPECT_LT(roi.counters.guest.instructions, out.result.guest.instructions);
    EXPECT_EQ(roi.repeats, 1u);
    EXPECT_NE(run_table(out).find("window roi: regions of interest (updates x1)"),
              std::string::npos);
    auto j = run_json(out);
    EXPECT_EQ(j["measured_window"], "roi");
    EXPECT_EQ(j["windows"]["updates"]["instructions"], roi.counters.guest.instructions);
    RunOptions o = gups();
    o.measure = "whole";
    RunOutput whole = execute_run(o);
    EXPECT_EQ(whole.measured_window, "whole");
    EXPECT_NE(run_table(whole).find("window whole"), std::string::npos);
}

TEST(WindowFlags, IntervalZeroAndAnUnknownMeasureAreBadInputNamingTheFlag) {
    auto message = [](std::vector<std::string> args) {
        try {
            parse_run_args(args);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message({"--interval", "0"}).find("at least 1 guest instruction"), std::string::npos);
    EXPECT_NE(message({"--measure", "steady"}).find("--measure 'steady'"), std::string::npos);
    RunOptions o = parse_run_args({"--warmup", "5", "--interval", "7", "--measure", "whole"});
    EXPECT_EQ(o.warmup, 5u);
    EXPECT_EQ(o.interval, 7u);
    EXPECT_EQ(o.measure, "whole");
}

TEST_F(RunWindowsTest, WarmupBeyondTheRunIsBadInput) {
    RunOptions o = gups();
    o.warmup = 1'000'000'000'000;
    try {
        execute_run(o);
        FAIL() << "no error";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("shorter than the run"), std::string::npos);
    }
}

} // namespace
} // namespace vmmu
