// Windows and intervals: the counters of parts of a run, from snapshots at exact boundaries.
//
// A window is a span of guest instructions whose counters are reported on their own: "whole" is
// the run after warm-up (all of it without --warmup), "roi" every instruction inside a region of
// interest (roi_begin / roi_end, workloads/libc/roi.c), and each region name its own repeats,
// summed. An interval is one slice of a time series every --interval instructions. Every value
// is a difference of snapshots the engine takes where every backend has seen exactly what ran
// before the boundary (engine/core/machine.h, Boundary): the split is exact even inside a
// block or a coalesced loop. Cycles are differences of the cost model applied to the snapshots
// (it is linear in the counters, engine/mmu/cost.h).
#pragma once

#include "engine/core/machine.h"
#include "engine/mmu/backend.h"
#include "engine/mmu/counters.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vmmu {

// The reserved window names: the run after warm-up, and the union of all regions.
inline constexpr const char* kWindowWhole = "whole";
inline constexpr const char* kWindowRoi = "roi";

// Counters of the guest and of every backend (in the run's backend order) over some span.
struct SpanCounters {
    GuestCounters guest; // guest.instructions: instructions inside the span
    std::vector<BackendCounters> backends;
    std::vector<CycleBreakdown> cycles;

    SpanCounters& operator+=(const SpanCounters& o);
    SpanCounters& operator-=(const SpanCounters& o);
};

struct Window {
    uint64_t repeats = 0;         // spans summed (a region's repeats)
    uint64_t first = 0, last = 0; // instruction count where the first began, the last ended
    SpanCounters counters;
};

struct IntervalPoint {
    uint64_t start = 0, end = 0; // guest instruction counts
    SpanCounters counters;
};

// A region marker as it happened (the report draws them on the time series).
struct RegionMark {
    bool begin = true;
    std::string region;
    uint64_t at = 0; // guest instructions
};

struct RunWindows {
    uint64_t warmup = 0;                   // instructions excluded from every window
    std::map<std::string, Window> windows; // "whole", "roi" (with regions), each region name
    uint64_t interval = 0;                 // 0: no time series
    std::vector<IntervalPoint> intervals;
    std::vector<RegionMark> marks;
    bool regions() const { return windows.contains(kWindowRoi); }
};

// Listens to one machine's boundaries and snapshots every backend there. Attach before the run
// (Machine::on_boundary), call finish() once it stopped.
class WindowRecorder {
public:
    WindowRecorder(std::vector<const Backend*> backends, uint64_t warmup, uint64_t interval);

    void on_boundary(const Boundary& b);
    // The run stopped with these guest counters: closes the whole window and the last interval.
    RunWindows finish(const GuestCounters& end);

private:
    SpanCounters snapshot(const GuestCounters& g) const;
    void add_span(const std::string& name, const SpanCounters& from, const SpanCounters& to);

    std::vector<const Backend*> backends_;
    RunWindows out_;
    SpanCounters zero_;
    std::optional<SpanCounters> warm_; // the snapshot where warm-up ended
    SpanCounters last_interval_;       // the snapshot where the current interval began
    // Open regions: where each began (none while warm-up lasts), and where "roi" began (the
    // first region to open while none was).
    std::map<std::string, std::optional<SpanCounters>> open_;
    std::optional<SpanCounters> roi_begin_;
};

} // namespace vmmu
