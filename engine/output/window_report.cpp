#include "engine/output/window_report.h"

#include "engine/output/report_json.h"

#include <fmt/format.h>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {
// Region spans listed per window; a region repeated more often lists its first ones only.
constexpr size_t kMaxSpansListed = 1000;
} // namespace

ojson span_guest_json(const GuestCounters& g, bool smp) {
    ojson j = {{"instructions", g.instructions},
               {"data_accesses", g.data_accesses},
               {"data_reads", g.data_reads},
               {"data_writes", g.data_writes},
               {"blocks", g.blocks},
               {"page_faults", g.page_faults},
               {"exceptions", g.exceptions},
               {"syscalls", g.syscalls},
               {"timer_interrupts", g.timer_interrupts},
               {"idle_ticks", g.idle_ticks},
               {"hlts", g.hlts},
               {"io_writes", g.io_writes},
               {"cr3_writes", g.cr3_writes},
               {"invlpgs", g.invlpgs},
               {"pt_writes", g.pt_writes}};
    if (smp) {
        j["ipis_sent"] = g.ipis_sent;
        j["ipis_received"] = g.ipis_received;
    }
    return j;
}

ojson vcpus_guest_json(const std::vector<SpanCounters>& vcpus) {
    ojson a = ojson::array();
    for (size_t i = 0; i < vcpus.size(); ++i) {
        ojson j = {{"vcpu", i}};
        j.update(span_guest_json(vcpus[i].guest, true));
        a.push_back(std::move(j));
    }
    return a;
}

ojson vcpus_backend_json(const std::vector<SpanCounters>& vcpus, size_t backend) {
    ojson a = ojson::array();
    for (size_t i = 0; i < vcpus.size(); ++i) {
        if (backend >= vcpus[i].backends.size()) continue;
        ojson j = {{"vcpu", i}};
        j.update(backend_json(vcpus[i].backends[backend], vcpus[i].cycles[backend]));
        j["walks"].erase("max_refs_per_walk"); // a maximum: the VM's only
        a.push_back(std::move(j));
    }
    return a;
}

ojson comparison_json(const std::vector<BackendResult>& backends) {
    ojson cmp = ojson::object();
    auto find = [&](const std::string& n) -> const BackendResult* {
        for (auto& b : backends)
            if (b.name == n) return &b;
        return nullptr;
    };
    auto ratio = [&](const std::string& a, const std::string& b) {
        auto *x = find(a), *y = find(b);
        if (x && y && y->cycles.total() > 0)
            cmp[fmt::format("{}/{}", a, b)] = x->cycles.total() / y->cycles.total();
    };
    ratio("shadow", "native");
    ratio("slat", "native");
    ratio("shadow", "slat");
    for (auto& b : backends)
        if (b.name != "native" && !cmp.contains(b.name + "/native")) ratio(b.name, "native");
    return cmp;
}

ojson windows_json(const RunOutput& out) {
    ojson ws = ojson::object();
    // The whole run first, then the union of the regions, then each region by name.
    std::vector<std::string> order{kWindowWhole};
    if (out.windows.regions()) order.push_back(kWindowRoi);
    for (auto& [name, w] : out.windows.windows)
        if (name != kWindowWhole && name != kWindowRoi) order.push_back(name);
    for (auto& name : order) {
        const Window& w = out.windows.windows.at(name);
        ojson j;
        j["repeats"] = w.repeats;
        j["instructions"] = w.counters.guest.instructions;
        j["first"] = w.first;
        j["last"] = w.last;
        if (name != kWindowWhole && name != kWindowRoi) {
            ojson spans = ojson::array();
            ojson open;
            for (auto& m : out.windows.marks) {
                if (m.region != name) continue;
                if (m.begin) {
                    open = m.at;
                } else if (spans.size() < kMaxSpansListed) {
                    spans.push_back(ojson::array({open, m.at}));
                }
            }
            j["spans"] = std::move(spans);
        }
        bool smp = !w.counters.vcpus.empty();
        j["guest"] = span_guest_json(w.counters.guest, smp);
        if (smp) j["guest"]["vcpus"] = vcpus_guest_json(w.counters.vcpus);
        auto backends = out.window_backends(w);
        ojson bs = ojson::object();
        for (size_t i = 0; i < backends.size(); ++i) {
            bs[backends[i].name] = backend_json(backends[i].counters, backends[i].cycles);
            if (smp) bs[backends[i].name]["vcpus"] = vcpus_backend_json(w.counters.vcpus, i);
        }
        j["backends"] = std::move(bs);
        j["comparison"] = comparison_json(backends);
        ws[name] = std::move(j);
    }
    return ws;
}

ojson intervals_json(const RunOutput& out) {
    if (!out.windows.interval) return nullptr;
    ojson points = ojson::array();
    for (const IntervalPoint& p : out.windows.intervals) {
        ojson bs = ojson::object();
        for (size_t i = 0; i < out.backends.size() && i < p.counters.backends.size(); ++i) {
            const BackendCounters& c = p.counters.backends[i];
            ojson exits = ojson::object();
            for (size_t r = 0; r < kExitReasonNames.size(); ++r)
                if (c.exits.by_reason[r])
                    exits[std::string(kExitReasonNames[r])] = c.exits.by_reason[r];
            bs[out.backends[i].name] = {
                {"dtlb_misses", c.tlb.l1d_misses},     {"itlb_misses", c.tlb.l1i_misses},
                {"stlb_misses", c.tlb.stlb_misses},    {"walks", c.walks.walks},
                {"walk_refs", c.walks.refs},           {"exits", c.exits.total()},
                {"exits_by_reason", std::move(exits)}, {"cycles", p.counters.cycles[i].total()}};
        }
        ojson point = {{"start", p.start},
                       {"end", p.end},
                       {"guest",
                        {{"instructions", p.counters.guest.instructions},
                         {"page_faults", p.counters.guest.page_faults},
                         {"syscalls", p.counters.guest.syscalls}}},
                       {"backends", std::move(bs)}};
        // Several vCPUs: each one's instructions and each backend's cycles in the slice.
        if (!p.counters.vcpus.empty()) {
            ojson vs = ojson::array();
            for (size_t v = 0; v < p.counters.vcpus.size(); ++v) {
                const SpanCounters& c = p.counters.vcpus[v];
                ojson cycles = ojson::object();
                for (size_t i = 0; i < out.backends.size() && i < c.cycles.size(); ++i)
                    cycles[out.backends[i].name] = c.cycles[i].total();
                vs.push_back({{"vcpu", v},
                              {"instructions", c.guest.instructions},
                              {"cycles", std::move(cycles)}});
            }
            point["vcpus"] = std::move(vs);
        }
        points.push_back(std::move(point));
    }
    return {{"period", out.windows.interval}, {"points", std::move(points)}};
}

std::string window_line(const RunOutput& out) {
    const Window& w = out.measured();
    uint64_t total = out.result.guest.instructions;
    double pct = total ? 100.0 * w.counters.guest.instructions / total : 0;
    std::string what;
    if (out.measured_window == kWindowRoi) {
        std::string names;
        for (auto& [name, r] : out.windows.windows)
            if (name != kWindowWhole && name != kWindowRoi)
                names += fmt::format("{}{} x{}", names.empty() ? "" : ", ", name, r.repeats);
        what = fmt::format("regions of interest ({})", names);
    } else if (out.options.measure == "roi" && !out.windows.marks.empty()) {
        what = "the whole run (every region ended during warm-up)";
    } else if (out.options.measure == "roi") {
        what = "the whole run (the workload marks no region)";
    } else {
        what = "the whole run (--measure whole)";
    }
    std::string warm =
        out.windows.warmup ? fmt::format(", after {} of warm-up", out.windows.warmup) : "";
    return fmt::format("window {}: {}; {} of {} guest instructions ({:.1f} %){}\n",
                       out.measured_window, what, w.counters.guest.instructions, total, pct, warm);
}

} // namespace vmmu
