// The vmmu.run/1 JSON document and the side-by-side table, both from one RunOutput.
#include "engine/output/run_report.h"

#include "engine/mmu/cost.h"
#include "engine/output/provenance_json.h"
#include "engine/output/report_json.h"
#include "engine/output/window_report.h"

#include <fmt/format.h>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {

const char* stop_name(StopKind k) {
    switch (k) {
    case StopKind::Exited:
        return "exited";
    case StopKind::Panic:
        return "panic";
    case StopKind::GuestFault:
        return "guest_fault";
    case StopKind::UnbackedMemory:
        return "unbacked_gpa";
    case StopKind::Budget:
        return "budget";
    case StopKind::OracleMismatch:
        return "oracle_mismatch";
    case StopKind::Quantum:
        return "quantum";
    case StopKind::Interrupted:
        return "interrupted";
    }
    return "unknown";
}

uint64_t reported(const RunResult& r, const std::string& key) {
    auto it = r.reported.find(key);
    return it == r.reported.end() ? 0 : it->second;
}

// Several vCPUs: the measured window split by vCPU, one column each (windows.h).
std::string vcpus_table(const RunOutput& out) {
    const std::vector<SpanCounters>& v = out.measured().counters.vcpus;
    if (v.empty()) return {};
    std::string s = fmt::format("{:<22}", "per vCPU");
    for (size_t i = 0; i < v.size(); ++i) s += fmt::format("{:>12}", fmt::format("vcpu{}", i));
    s += "\n";
    auto row = [&](const std::string& label, auto f) {
        s += fmt::format("{:<22}", label);
        for (auto& c : v) s += fmt::format("{:>12}", f(c));
        s += "\n";
    };
    row("instructions", [](const SpanCounters& c) { return c.guest.instructions; });
    row("page faults", [](const SpanCounters& c) { return c.guest.page_faults; });
    row("timer ticks", [](const SpanCounters& c) { return c.guest.timer_interrupts; });
    row("idle ticks", [](const SpanCounters& c) { return c.guest.idle_ticks; });
    row("hlts", [](const SpanCounters& c) { return c.guest.hlts; });
    row("IPIs sent", [](const SpanCounters& c) { return c.guest.ipis_sent; });
    row("IPIs received", [](const SpanCounters& c) { return c.guest.ipis_received; });
    row("invlpgs", [](const SpanCounters& c) { return c.guest.invlpgs; });
    for (size_t b = 0; b < out.backends.size(); ++b) {
        const std::string& name = out.backends[b].name;
        row(name + " STLB misses",
            [b](const SpanCounters& c) { return c.backends[b].tlb.stlb_misses; });
        row(name + " walks", [b](const SpanCounters& c) { return c.backends[b].walks.walks; });
        bool exits = false;
        for (auto& c : v) exits |= c.backends[b].exits.total() != 0;
        if (exits)
            row(name + " VM exits",
                [b](const SpanCounters& c) { return c.backends[b].exits.total(); });
        row(name + " cycles (M)", [b](const SpanCounters& c) {
            return fmt::format("{:.2f}", c.cycles[b].total() / 1e6);
        });
    }
    return s;
}

} // namespace

ojson dedup_counters_json(const DedupCounters& c, bool host_wide) {
    ojson j = {{"pages_scanned", c.pages_scanned},
               {"pages_hashed", c.pages_hashed},
               {"compares", c.compares},
               {"merges", c.merges},
               {"breaks", c.breaks},
               {"diverged", c.diverged},
               {"volatile_skips", c.volatile_skips}};
    if (host_wide) {
        j["scans"] = c.passes;
        j["full_scans"] = c.full_scans;
        j["shared_frames"] = c.shared_frames;
        j["frames_saved"] = c.frames_saved;
        j["frames_saved_peak"] = c.frames_saved_peak;
        j["bytes_saved"] = c.frames_saved << 12;
        j["bytes_saved_peak"] = c.frames_saved_peak << 12;
    }
    j["scan_cycles"] = c.cycles();
    j["scan_cycles_basis"] = "estimate (engine/host/dedup.h)";
    return j;
}

ojson dedup_json(const DedupResult& d) {
    return {{"period", d.config.period},
            {"pages_per_pass", d.config.pages_per_pass},
            {"host", dedup_counters_json(d.host, true)},
            {"vm", dedup_counters_json(d.vm, false)}};
}

std::string dedup_table(const DedupResult& d, const std::vector<BackendResult>& backends) {
    const DedupCounters& h = d.host;
    std::string s = fmt::format(
        "dedup: {} scans (every {} instructions, {} pages), {} pages scanned, {} merges, {} "
        "breaks, {} diverged; host frames saved {} now ({:.1f} MiB), {} at peak\n",
        h.passes, d.config.period, d.config.pages_per_pass, h.pages_scanned, h.merges, h.breaks,
        h.diverged, h.frames_saved, (h.frames_saved << 12) / 1048576.0, h.frames_saved_peak);
    for (auto& b : backends) {
        auto det = [&](const char* k) {
            auto it = b.counters.details.find(k);
            return it == b.counters.details.end() ? uint64_t{0} : it->second;
        };
        // A backend charged no scan has no host (engine/experiment/run.cpp, collect_backends).
        if (!b.counters.details.contains(std::string(kDetailDedupCycles))) {
            s += fmt::format("  {:<8} no host, no deduplication\n", b.name);
            continue;
        }
        s += fmt::format("  {:<8} memory saved {:.1f} MiB, scan {:.2f} M cycles (estimate), "
                         "{} merges and {} breaks seen, {} ept_violation + {} pf_hidden exits\n",
                         b.name, (h.frames_saved << 12) / 1048576.0,
                         det(std::string(kDetailDedupCycles).c_str()) / 1e6, det("dedup_merged"),
                         det("dedup_breaks"), b.counters.exits[ExitReason::EptViolation],
                         b.counters.exits[ExitReason::PfHidden]);
    }
    return s;
}

ojson run_json(const RunOutput& out) {
    const RunResult& r = out.result;
    const GuestCounters& g = r.guest;
    ojson j;
    j["schema"] = "vmmu.run/1";
    j["status"] = run_status(r);
    ojson w;
    w["name"] = out.workload.name;
    w["params"] = out.params;
    auto ck = r.reported.find(out.workload.name + ".checksum");
    w["checksum"] =
        ck == r.reported.end() ? ojson(nullptr) : ojson(fmt::format("{:016x}", ck->second));
    auto ok = r.reported.find(out.workload.name + ".ok");
    w["ok"] = ok != r.reported.end() && ok->second == 1 && r.stop == StopKind::Exited &&
              r.exit_status == 0;
    if (out.options.run_programs) {
        // Users' programs: no manifest, so "ok" is the exit status alone (init exits 0 only if
        // every program did), and what they printed is part of the result.
        w["ok"] = r.stop == StopKind::Exited && r.exit_status == 0;
        ojson programs = ojson::array();
        for (size_t i = 0; i < out.options.programs.size(); ++i)
            programs.push_back(
                {{"path", out.options.programs[i]},
                 {"args", i < out.options.program_args.size() ? out.options.program_args[i]
                                                              : std::string()}});
        w["programs"] = programs;
        w["cmdline"] = out.cmdline;
        w["output"] = r.program_output;
    }
    j["workload"] = w;
    const RunOptions& o = out.options;
    j["config"] = {{"profile", o.profile},
                   {"guest_mib", o.guest_mib},
                   {"timer_period", o.timer_period},
                   {"guest_pages", o.guest_pages},
                   {"ept_pages", o.ept_pages},
                   {"pwc", o.pwc},
                   {"caches", o.caches},
                   {"price_data", o.price_data},
                   {"ntlb", o.ntlb},
                   {"shadow_opts", o.shadow_opts},
                   {"backends", o.backends}};
    if (o.hypervisor != "none") j["config"]["hypervisor"] = o.hypervisor;
    // Written only when not the default 4, so documents of 4-level runs keep their shape.
    if (o.ept_levels != 4) j["config"]["ept_levels"] = o.ept_levels;
    if (o.guest_levels != 4) j["config"]["guest_levels"] = o.guest_levels;
    // Likewise only for several vCPUs, so single-vCPU documents keep their shape.
    if (o.vcpus != 1) {
        j["config"]["vcpus"] = o.vcpus;
        j["config"]["vcpu_quantum"] = o.vcpu_quantum;
    }
    for (auto& [scheme, opts] : o.scheme_opts)
        if (!opts.empty()) j["config"]["scheme_opts"][scheme] = opts;
    j["guest"] = {{"instructions", g.instructions},
                  {"data_accesses", g.data_accesses},
                  {"data_reads", g.data_reads},
                  {"data_writes", g.data_writes},
                  {"blocks", g.blocks},
                  {"context_switches", reported(r, "kernel.context_switches")},
                  {"page_faults", g.page_faults},
                  {"exceptions", g.exceptions},
                  {"syscalls", g.syscalls},
                  {"timer_interrupts", g.timer_interrupts},
                  {"idle_ticks", g.idle_ticks},
                  {"hlts", g.hlts},
                  {"io_writes", g.io_writes},
                  {"cr3_writes", g.cr3_writes},
                  {"invlpgs", g.invlpgs},
                  {"pt_writes", g.pt_writes},
                  {"reported", r.reported}};
    // Several vCPUs: the IPIs, and every count split by the vCPU that ran (windows.h).
    const std::vector<SpanCounters>& vcpus = out.windows.vcpus;
    if (!vcpus.empty()) {
        j["guest"]["ipis_sent"] = g.ipis_sent;
        j["guest"]["ipis_received"] = g.ipis_received;
        j["guest"]["vcpus"] = vcpus_guest_json(vcpus);
    }
    ojson backends = ojson::object();
    for (size_t i = 0; i < out.backends.size(); ++i) {
        const BackendResult& b = out.backends[i];
        ojson bj = backend_json(b.counters, b.cycles);
        bj["profile"] = b.profile;
        if (!vcpus.empty()) bj["vcpus"] = vcpus_backend_json(vcpus, i);
        backends[b.name] = bj;
    }
    j["backends"] = backends;
    j["comparison"] = comparison_json(out.backends); // the windows' ratios, same rule
    if (out.dedup) j["dedup"] = dedup_json(*out.dedup);
    // Windows (engine/experiment/windows.h): the totals above cover the whole run.
    j["measure"] = o.measure;
    j["measured_window"] = out.measured_window;
    j["warmup"] = out.windows.warmup;
    j["windows"] = windows_json(out);
    if (out.windows.interval) j["intervals"] = intervals_json(out);
    j["stop"] = {{"kind", stop_name(r.stop)},    {"exit_status", r.exit_status},
                 {"message", r.message},         {"rip", fmt::format("{:#x}", r.rip)},
                 {"instruction", r.instruction}, {"symbol", r.symbol}};
    if (!vcpus.empty()) j["stop"]["vcpu"] = r.vcpu;
    // What led up to a failed or cut-short run; a clean exit keeps its document unchanged.
    if (run_status(r) != "ok") j["stop"]["recent_events"] = r.recent_events;
    double mips = r.wall_seconds > 0 ? g.instructions / r.wall_seconds / 1e6 : 0;
    j["provenance"] = provenance_json(out.provenance, resolved_config(out));
    j["sim"] = {{"wall_seconds", r.wall_seconds}, {"guest_mips", mips}};
    return j;
}

std::string run_table(const RunOutput& out) {
    const RunResult& r = out.result;
    std::string s;
    std::string params;
    for (auto& [k, v] : out.params) params += fmt::format(" {}={}", k, v);
    auto ck = r.reported.find(out.workload.name + ".checksum");
    if (out.options.run_programs) {
        // A checksum if the program reports one (report("NAME.checksum", v)), else how it ended.
        std::string ended = r.stop != StopKind::Exited ? "did not finish"
                            : r.exit_status == 0
                                ? "exited 0"
                                : fmt::format("failed (init exited {}: a program's status "
                                              "was not 0; the console names it)",
                                              r.exit_status);
        s += fmt::format("programs {}: {}{}\n", out.cmdline, ended,
                         ck == r.reported.end() ? std::string()
                                                : fmt::format(", checksum {:016x}", ck->second));
    } else {
        s += fmt::format("workload {}{}: {}\n", out.workload.name, params,
                         ck == r.reported.end() ? std::string("no checksum")
                                                : fmt::format("checksum {:016x}", ck->second));
    }
    // The table shows the measured window; the JSON carries every window and the whole run.
    const GuestCounters& g = out.measured().counters.guest;
    s += window_line(out);
    s +=
        fmt::format("guest: {} instructions, {} data accesses, {} page faults, {} syscalls, "
                    "{} timer ticks\n",
                    g.instructions, g.data_accesses, g.page_faults, g.syscalls, g.timer_interrupts);
    const std::vector<BackendResult> measured = out.measured_backends();
    if (!measured.empty()) {
        s += fmt::format("{:<22}", "");
        for (auto& b : measured) s += fmt::format("{:>16}", b.name);
        s += "\n";
        auto row = [&](const std::string& label, auto f) {
            s += fmt::format("{:<22}", label);
            for (auto& b : measured) s += fmt::format("{:>16}", f(b));
            s += "\n";
        };
        auto num = [](uint64_t v) { return fmt::format("{}", v); };
        row("profile", [&](const BackendResult& b) { return b.profile; });
        row("dTLB misses", [&](const BackendResult& b) { return num(b.counters.tlb.l1d_misses); });
        row("iTLB misses", [&](const BackendResult& b) { return num(b.counters.tlb.l1i_misses); });
        row("STLB misses", [&](const BackendResult& b) { return num(b.counters.tlb.stlb_misses); });
        row("page walks", [&](const BackendResult& b) { return num(b.counters.walks.walks); });
        row("walk refs", [&](const BackendResult& b) { return num(b.counters.walks.refs); });
        row("refs per walk", [&](const BackendResult& b) {
            auto& w = b.counters.walks;
            return w.walks ? fmt::format("{:.2f}", double(w.refs) / w.walks) : std::string("-");
        });
        row("max refs per walk",
            [&](const BackendResult& b) { return num(b.counters.walks.max_refs_per_walk); });
        bool caches = false;
        for (auto& b : out.backends) caches |= b.counters.caches.modelled;
        if (caches) {
            // Where walk references were served, as a share of them; then the pollution.
            for (size_t l = 0; l < kCacheLevelNames.size(); ++l)
                row(fmt::format("  refs in {}", kCacheLevelNames[l]), [&](const BackendResult& b) {
                    auto& w = b.counters.walks;
                    uint64_t n = b.counters.caches.walk_at(static_cast<CacheLevel>(l));
                    return w.refs ? fmt::format("{:.1f}%", 100.0 * double(n) / double(w.refs))
                                  : std::string("-");
                });
            row("walk cycles per walk", [&](const BackendResult& b) {
                auto& w = b.counters.walks;
                return w.walks ? fmt::format("{:.1f}", b.cycles.walk / double(w.walks))
                               : std::string("-");
            });
            row("data misses by walks", [&](const BackendResult& b) {
                auto& m = b.counters.caches.data_misses_from_walks;
                return num(m[0] + m[1] + m[2]);
            });
        }
        row("VM exits", [&](const BackendResult& b) { return num(b.counters.exits.total()); });
        for (size_t i = 0; i < kExitReasonNames.size(); ++i) {
            bool any = false;
            for (auto& b : measured) any |= b.counters.exits.by_reason[i] != 0;
            if (any)
                row(fmt::format("  {}", kExitReasonNames[i]),
                    [&](const BackendResult& b) { return num(b.counters.exits.by_reason[i]); });
        }
        auto mcyc = [](double c) { return fmt::format("{:.2f}", c / 1e6); };
        row("cycles (M)", [&](const BackendResult& b) { return mcyc(b.cycles.total()); });
        row("  base", [&](const BackendResult& b) { return mcyc(b.cycles.base); });
        row("  walk", [&](const BackendResult& b) { return mcyc(b.cycles.walk); });
        row("  exit", [&](const BackendResult& b) { return mcyc(b.cycles.exit); });
        row("  handler", [&](const BackendResult& b) { return mcyc(b.cycles.handler); });
        bool data = false;
        for (auto& b : measured) data |= b.counters.caches.price_data;
        if (data) row("  data", [&](const BackendResult& b) { return mcyc(b.cycles.data); });
        const BackendResult* base = nullptr;
        for (auto& b : measured)
            if (b.name == "native") base = &b;
        if (base && base->cycles.total() > 0)
            row("vs native", [&](const BackendResult& b) {
                return fmt::format("{:.3f}x", b.cycles.total() / base->cycles.total());
            });
    }
    s += vcpus_table(out);
    if (out.dedup) s += dedup_table(*out.dedup, out.backends);
    double mips = r.wall_seconds > 0 ? r.guest.instructions / r.wall_seconds / 1e6 : 0;
    s += fmt::format("sim: {:.2f} s wall, {:.1f} guest MIPS\n", r.wall_seconds, mips);
    return s;
}

} // namespace vmmu
