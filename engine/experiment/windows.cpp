#include "engine/experiment/windows.h"

#include <map>
#include <stdexcept>
#include <utility>

namespace vmmu {

namespace {
// A per-vCPU share keeps only counts: a level (a Hyper-V gauge) or a maximum (the largest walk)
// is the VM's, not split by vCPU.
void drop_levels(SpanCounters& s) {
    for (auto& b : s.backends) {
        b.walks.max_refs_per_walk = 0;
        std::erase_if(b.hyperv, [](const auto& kv) { return is_hyperv_gauge(kv.first); });
    }
}
} // namespace

SpanCounters& SpanCounters::operator+=(const SpanCounters& o) {
    guest += o.guest;
    if (vcpus.size() < o.vcpus.size()) vcpus.resize(o.vcpus.size());
    for (size_t i = 0; i < o.vcpus.size(); ++i) vcpus[i] += o.vcpus[i];
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
    for (size_t i = 0; i < o.vcpus.size() && i < vcpus.size(); ++i) vcpus[i] -= o.vcpus[i];
    for (size_t i = 0; i < o.backends.size() && i < backends.size(); ++i) {
        backends[i] -= o.backends[i];
        cycles[i] -= o.cycles[i];
    }
    return *this;
}

WindowRecorder::WindowRecorder(std::vector<const Backend*> backends, uint64_t warmup,
                               uint64_t interval, unsigned vcpus)
    : backends_(std::move(backends)) {
    out_.warmup = warmup;
    out_.interval = interval;
    zero_.backends.resize(backends_.size());
    zero_.cycles.resize(backends_.size());
    if (vcpus > 1) {
        turns_.assign(vcpus, zero_);
        zero_.vcpus = turns_;
        turn_begin_ = backends_snapshot(0);
    }
    if (warmup == 0) warm_ = zero_;
    last_interval_ = zero_;
}

SpanCounters WindowRecorder::backends_snapshot(uint64_t instructions) const {
    SpanCounters s;
    for (const Backend* b : backends_) {
        s.backends.push_back(b->counters());
        s.cycles.push_back(b->cycles(instructions));
    }
    return s;
}

void WindowRecorder::on_vcpu_switch(unsigned next, uint64_t instructions) {
    if (turns_.empty()) return;
    SpanCounters now = backends_snapshot(instructions);
    SpanCounters turn = now;
    turn -= turn_begin_;
    turns_[running_] += turn;
    turn_begin_ = std::move(now);
    running_ = next;
}

SpanCounters WindowRecorder::snapshot(const GuestCounters& g,
                                      const std::vector<GuestCounters>& vcpus) const {
    SpanCounters s = backends_snapshot(g.instructions);
    s.guest = g;
    if (turns_.empty()) return s;
    // Each vCPU's turns so far; the running one's current turn up to here.
    SpanCounters turn = s;
    turn -= turn_begin_;
    turn.guest = {};
    s.vcpus = turns_;
    s.vcpus[running_] += turn;
    for (size_t i = 0; i < s.vcpus.size(); ++i) {
        s.vcpus[i].guest = i < vcpus.size() ? vcpus[i] : GuestCounters{};
        drop_levels(s.vcpus[i]);
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
    for (auto& v : w.counters.vcpus) drop_levels(v);
}

void WindowRecorder::on_boundary(const Boundary& b) {
    uint64_t at = b.guest.instructions;
    switch (b.kind) {
    case Boundary::Kind::RegionBegin:
        out_.marks.push_back({true, b.region, at});
        if (open_.contains(b.region))
            throw std::logic_error("region begins twice (engine/core/port_io.cpp)");
        open_[b.region] = warm_ ? std::optional(snapshot(b)) : std::nullopt;
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
        SpanCounters end = snapshot(b);
        add_span(b.region, *begin, end);
        if (open_.empty() && roi_begin_) add_span(kWindowRoi, *roi_begin_, end);
        if (open_.empty()) roi_begin_.reset();
        return;
    }
    case Boundary::Kind::Sample: {
        SpanCounters s = snapshot(b);
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

RunWindows WindowRecorder::finish(const GuestCounters& end,
                                  const std::vector<GuestCounters>& vcpus) {
    SpanCounters last = snapshot(end, vcpus);
    out_.vcpus = last.vcpus;
    if (warm_) add_span(kWindowWhole, *warm_, last);
    if (out_.interval && end.instructions > last_interval_.guest.instructions) {
        IntervalPoint p{last_interval_.guest.instructions, end.instructions, last};
        p.counters -= last_interval_;
        out_.intervals.push_back(std::move(p));
    }
    return std::move(out_);
}

} // namespace vmmu
