#include "engine/experiment/windows.h"

#include <stdexcept>
#include <utility>

namespace vmmu {

SpanCounters& SpanCounters::operator+=(const SpanCounters& o) {
    guest += o.guest;
    if (backends.size() < o.backends.size()) {
        backends.resize(o.backends.size());
        cycles.resize(o.cycles.size());
    }
    for (size_t i = 0; i < o.backends.size(); ++i) {
        backends[i] += o.backends[i];
        cycles[i] += o.cycles[i];
    }
    return *this;
}

SpanCounters& SpanCounters::operator-=(const SpanCounters& o) {
    guest -= o.guest;
    for (size_t i = 0; i < o.backends.size() && i < backends.size(); ++i) {
        backends[i] -= o.backends[i];
        cycles[i] -= o.cycles[i];
    }
    return *this;
}

WindowRecorder::WindowRecorder(std::vector<const Backend*> backends, uint64_t warmup,
                               uint64_t interval)
    : backends_(std::move(backends)) {
    out_.warmup = warmup;
    out_.interval = interval;
    zero_.backends.resize(backends_.size());
    zero_.cycles.resize(backends_.size());
    if (warmup == 0) warm_ = zero_;
    last_interval_ = zero_;
}

SpanCounters WindowRecorder::snapshot(const GuestCounters& g) const {
    SpanCounters s;
    s.guest = g;
    for (const Backend* b : backends_) {
        s.backends.push_back(b->counters());
        s.cycles.push_back(b->cycles(g.instructions));
    }
    return s;
}

void WindowRecorder::add_span(const std::string& name, const SpanCounters& from,
                              const SpanCounters& to) {
    SpanCounters d = to;
    d -= from;
    auto [it, fresh] = out_.windows.try_emplace(name);
    Window& w = it->second;
    if (fresh) {
        w.first = from.guest.instructions;
        w.counters = zero_;
    }
    w.last = to.guest.instructions;
    ++w.repeats;
    // The largest walk is the run's so far, and a Hyper-V gauge the level at the latest repeat's
    // end, not sums (engine/mmu/counters.h).
    w.counters += d;
    for (size_t i = 0; i < d.backends.size(); ++i) {
        w.counters.backends[i].walks.max_refs_per_walk = d.backends[i].walks.max_refs_per_walk;
        for (auto& [k, v] : d.backends[i].hyperv)
            if (is_hyperv_gauge(k)) w.counters.backends[i].hyperv[k] = v;
    }
}

void WindowRecorder::on_boundary(const Boundary& b) {
    uint64_t at = b.guest.instructions;
    switch (b.kind) {
    case Boundary::Kind::RegionBegin:
        out_.marks.push_back({true, b.region, at});
        if (open_.contains(b.region))
            throw std::logic_error("region begins twice (engine/core/port_io.cpp)");
        open_[b.region] = warm_ ? std::optional(snapshot(b.guest)) : std::nullopt;
        if (open_.size() == 1) roi_begin_ = open_[b.region];
        return;
    case Boundary::Kind::RegionEnd: {
        out_.marks.push_back({false, b.region, at});
        auto it = open_.find(b.region);
        if (it == open_.end())
            throw std::logic_error("region end without its begin (engine/core/port_io.cpp)");
        auto begin = std::move(it->second);
        open_.erase(it);
        // A repeat that ended during warm-up is not measured; one that began in it is measured
        // from where warm-up ended.
        if (!begin) {
            if (open_.empty()) roi_begin_.reset();
            return;
        }
        SpanCounters end = snapshot(b.guest);
        add_span(b.region, *begin, end);
        if (open_.empty() && roi_begin_) add_span(kWindowRoi, *roi_begin_, end);
        if (open_.empty()) roi_begin_.reset();
        return;
    }
    case Boundary::Kind::Sample: {
        SpanCounters s = snapshot(b.guest);
        if (!warm_ && out_.warmup && at == out_.warmup) {
            warm_ = s;
            for (auto& r : open_)
                if (!r.second) r.second = s;
            if (!open_.empty() && !roi_begin_) roi_begin_ = s;
        }
        if (out_.interval && at % out_.interval == 0) {
            IntervalPoint p{last_interval_.guest.instructions, at, s};
            p.counters -= last_interval_;
            out_.intervals.push_back(std::move(p));
            last_interval_ = std::move(s);
        }
        return;
    }
    }
}

RunWindows WindowRecorder::finish(const GuestCounters& end) {
    SpanCounters last = snapshot(end);
    if (warm_) add_span(kWindowWhole, *warm_, last);
    if (out_.interval && end.instructions > last_interval_.guest.instructions) {
        IntervalPoint p{last_interval_.guest.instructions, end.instructions, last};
        p.counters -= last_interval_;
        out_.intervals.push_back(std::move(p));
    }
    return std::move(out_);
}

} // namespace vmmu
