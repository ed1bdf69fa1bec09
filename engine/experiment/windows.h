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
// With several vCPUs, `vcpus` splits them by the vCPU that ran when they were counted (each
// entry's own `vcpus` empty): the guest's from each vCPU's own counters, the backends' by
// attributing what they counted during each turn to the vCPU whose turn it was. Counts sum to
// the VM's; levels do not split (a Hyper-V gauge, the largest walk: read them on the VM).
struct SpanCounters {
    GuestCounters guest; // guest.instructions: instructions inside the span
    std::vector<BackendCounters> backends;
    std::vector<CycleBreakdown> cycles;
    std::vector<SpanCounters> vcpus;

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
    // Several vCPUs: the whole run (warm-up included) split by vCPU, as SpanCounters::vcpus;
    // empty with one vCPU.
    std::vector<SpanCounters> vcpus;
    bool regions() const { return windows.contains(kWindowRoi); }
};

// Listens to one machine's boundaries and snapshots every backend there. Attach before the run
// (Machine::on_boundary), call finish() once it stopped.
// With several vCPUs (`vcpus` > 1) it also hears every vCPU switch (Machine::on_vcpu_switch)
// and splits every span by vCPU (SpanCounters::vcpus).
class WindowRecorder {
public:
    WindowRecorder(std::vector<const Backend*> backends, uint64_t warmup, uint64_t interval,
                   unsigned vcpus = 1);

    void on_boundary(const Boundary& b);
    // vCPU `next` takes its turn with the VM at `instructions`: what the backends counted since
    // the last switch was the previous vCPU's.
    void on_vcpu_switch(unsigned next, uint64_t instructions);
    // The run stopped with these guest counters (and, with several vCPUs, each vCPU's): closes
    // the whole window and the last interval.
    RunWindows finish(const GuestCounters& end, const std::vector<GuestCounters>& vcpus = {});

private:
    // Every backend's counters and cycles with the VM at `instructions` (guest left zero).
    SpanCounters backends_snapshot(uint64_t instructions) const;
    SpanCounters snapshot(const GuestCounters& g, const std::vector<GuestCounters>& vcpus) const;
    SpanCounters snapshot(const Boundary& b) const { return snapshot(b.guest, b.vcpus); }
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
    // Several vCPUs: what each vCPU's turns added up to before the current one, the snapshot
    // where the current turn began, and whose turn it is.
    std::vector<SpanCounters> turns_;
    SpanCounters turn_begin_;
    unsigned running_ = 0;
};

} // namespace vmmu
