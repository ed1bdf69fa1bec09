#include "engine/output/study_report.h"

#include "engine/output/provenance_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {
// A crossing more than this many times the largest measured K gets a warning.
constexpr double kFarExtrapolation = 2;
} // namespace

namespace {

ojson study_point_json(const StudyRun& r, const std::vector<std::string>& backends,
                       const StudyHost& host) {
    ojson p;
    p["sessions"] = r.sessions;
    p["status"] = run_usable(r) ? "ok" : "failed";
    if (!r.failure.empty()) p["failure"] = r.failure;
    p["run_file"] = r.run_file;
    if (!run_usable(r)) return p;
    const nlohmann::json& g = r.run["guest"];
    uint64_t actions = run_actions(r.run);
    p["actions"] = actions;
    p["checksum"] = r.run["workload"]["checksum"];
    p["guest"] = {{"instructions", g.value("instructions", uint64_t{0})},
                  {"context_switches", g.value("context_switches", uint64_t{0})},
                  {"page_faults", g.value("page_faults", uint64_t{0})},
                  {"syscalls", g.value("syscalls", uint64_t{0})}};
    ojson bs = ojson::object();
    for (auto& name : backends) {
        const nlohmann::json& b = measured_backends(r.run)[name];
        double total = run_number(b, {"cycles", "total"});
        double cpa = actions ? total / double(actions) : 0;
        HostModel hm = host_model(host, name);
        ojson bj;
        bj["cycles"] = b["cycles"];
        bj["cycles_per_action"] = cpa;
        bj["exits"] = run_number(b, {"exits", "total"});
        bj["exits_per_action"] = actions ? run_number(b, {"exits", "total"}) / double(actions) : 0;
        bj["walk_refs_per_walk"] = run_number(b, {"walks", "refs_per_walk"});
        bj["stlb_misses"] = run_number(b, {"tlb", "stlb_misses"});
        // Share of the whole host (all cores) these K sessions need.
        bj["host_cpu_share"] =
            double(r.sessions) * hm.actions_per_sec * cpa / (hm.cores * hm.ghz * 1e9);
        bs[name] = bj;
    }
    p["backends"] = bs;
    return p;
}

} // namespace

ojson study_json(const std::vector<StudyRun>& runs, const StudyHost& host, const ojson& config,
                 bool interrupted, double wall_seconds) {
    auto backends = study_backends(runs);
    ojson j;
    j["schema"] = "vmmu.study.scaling/1";
    j["status"] = study_status(runs, interrupted);
    j["config"] = config;
    ojson model;
    model["formula"] =
        "K * actions_per_sec * cycles_per_action(K) <= utilisation * cores * ghz * 1e9";
    model["interpolation"] = "cycles_per_action linear in K between measured K; held at the "
                             "nearest measured value outside them (extrapolated: true)";
    model["cores"] = {{"value", host.cores}, {"source", kCoresSource}};
    model["utilisation"] = {{"value", host.utilisation}, {"source", kUtilisationSource}};
    model["actions_per_sec"] = {{"value", host.actions_per_sec}, {"source", kActionsSource}};
    ojson ghz = ojson::object();
    for (auto& name : backends) ghz[name] = host_model(host, name).ghz;
    model["ghz"] = {
        {"per_backend", ghz},
        {"source", host.ghz_override > 0 ? "--ghz" : "each backend's CPU profile core_ghz"}};
    j["capacity_model"] = model;

    ojson points = ojson::array();
    for (auto& r : runs) points.push_back(study_point_json(r, backends, host));
    j["points"] = points;

    StudyCapacity cap = study_capacity(runs, host);
    ojson capacity = ojson::object();
    for (auto& b : cap.backends) {
        ojson c;
        c["profile"] = b.profile;
        c["ghz"] = b.ghz;
        if (b.points.empty()) {
            c["sessions"] = nullptr;
            c["note"] = "no usable run";
        } else {
            c["sessions"] = b.capacity.sessions;
            c["crossing"] = b.capacity.crossing;
            c["extrapolated"] = b.capacity.extrapolated;
            c["measured_k"] = ojson::array();
            for (auto& p : b.points) c["measured_k"].push_back(p.sessions);
        }
        capacity[b.name] = c;
    }
    j["capacity"] = capacity;

    ojson ratio;
    ratio["published_band"] = {kPublishedLow, kPublishedHigh};
    ratio["source"] = kPublishedSource;
    if (cap.ratio.measured) {
        ratio["slat/shadow"] = cap.ratio.slat_over_shadow;
        ratio["slat/shadow_whole_sessions"] = cap.ratio.whole_sessions;
    } else {
        ratio["slat/shadow"] = nullptr;
    }
    ratio["verdict"] = cap.ratio.verdict;
    j["ratio"] = ratio;

    ojson sim;
    sim["wall_seconds"] = wall_seconds;
    ojson per = ojson::array();
    for (auto& r : runs)
        if (run_usable(r))
            per.push_back({{"sessions", r.sessions},
                           {"wall_seconds", run_number(r.run, {"sim", "wall_seconds"})},
                           {"guest_mips", run_number(r.run, {"sim", "guest_mips"})}});
    sim["runs"] = per;
    j["provenance"] = provenance_json(tool_provenance(), config);
    j["sim"] = sim;
    return j;
}

ojson study_config_json(const ScalingConfig& c, const StudyHost& host) {
    const RunOptions& base = c.base;
    ojson config = {{"workload", "sessions"},      {"sessions", c.sessions},
                    {"params", base.params},       {"backends", base.backends},
                    {"profiles", host.profile},    {"guest_pages", base.guest_pages},
                    {"ept_pages", base.ept_pages}, {"pwc", base.pwc},
                    {"ntlb", base.ntlb},           {"timer_period", base.timer_period}};
    // Everything else a run was given, so the document says how it was made.
    ojson profiles = ojson::object();
    for (auto& p : c.profile_sources)
        profiles[p.backend] = p.file ? ojson{{"name", p.name},
                                             {"source", "file"},
                                             {"path", p.path},
                                             {"fnv1a64", p.fnv1a64}}
                                     : ojson{{"name", p.name}, {"source", "shipped"}};
    config["profile_sources"] = profiles;
    config["shadow_options"] = base.shadow_opts;
    config["guest_mib"] = base.guest_mib;
    // Written only when not the default 4, as in a run's document.
    if (base.ept_levels != 4) config["ept_levels"] = base.ept_levels;
    if (base.guest_levels != 4) config["guest_levels"] = base.guest_levels;
    config["oracle"] = base.oracle;
    config["max_instructions"] = base.max_instructions;
    config["dedup"] = {
        {"enabled", base.dedup}, {"period", base.dedup_period}, {"pages", base.dedup_pages}};
    config["hypervisor"] = base.hypervisor;
    config["caches"] = base.caches;
    config["measure"] = base.measure;
    if (base.vcpus != 1) config["vcpus"] = base.vcpus;
    if (!c.preset.empty())
        config["preset"] = {
            {"name", c.preset},
            {"shadow", "Hyper-V 2008: shadow paging (VTLB) on penryn-2008 (VT-x without EPT), "
                       "the guest enlightened by hypercall (HvSwitchVirtualAddressSpace, "
                       "HvFlushVirtualAddress*)"},
            {"slat", "Hyper-V 2008 R2: SLAT on nehalem-2009 (EPT, VPID); the hypercalls cost "
                     "what the plain instructions they replace cost there (no exit): R2 on SLAT "
                     "hardware does not recommend them"}};
    return config;
}

ojson study_json(const ScalingStudy& s) {
    ojson j = study_json(s.runs, s.host, study_config_json(s.config, s.host), s.interrupted,
                         s.wall_seconds);
    if (s.sensitivity) j["sensitivity"] = sensitivity_json(*s.sensitivity);
    return j;
}

ojson sensitivity_json(const SensitivityGrid& g) {
    const SensitivityAxes& a = g.axes;
    ojson points = ojson::array();
    for (const SensitivityPoint& p : g.points) {
        ojson q = {{"burst_updates", p.burst_updates},
                   {"ws_mib", p.ws_mib},
                   {"think_ticks", p.think_ticks},
                   {"actions_per_sec", p.actions_per_sec}};
        if (p.ratio) {
            q["slat/shadow"] = *p.ratio;
            q["shadow_sessions"] = p.shadow_sessions;
            q["slat_sessions"] = p.slat_sessions;
            q["verdict"] = p.verdict;
        } else {
            q["slat/shadow"] = nullptr;
            q["failure"] = p.failure;
        }
        points.push_back(std::move(q));
    }
    return {{"sessions", a.sessions},
            {"axes",
             {{"burst_updates", a.burst_updates},
              {"ws_mib", a.ws_mib},
              {"think_ticks", a.think_ticks},
              {"actions_per_sec", a.actions_per_sec}}},
            {"what", "slat/shadow sustained sessions at one K per point, each axis bracketing the "
                     "study's own value (burst_updates 5000, ws_mib 1, think_ticks 5, A 10)"},
            {"published_band", {kPublishedLow, kPublishedHigh}},
            {"measured", g.measured},
            {"in_band", g.in_band},
            {"points", points}};
}

std::string sensitivity_table(const ojson& s) {
    std::string out = fmt::format(
        "sensitivity (K={}): slat/shadow sessions by work per launch (burst_updates), at A = 10 "
        "actions/s\n",
        s["sessions"].get<uint64_t>());
    out += fmt::format("{:>8}{:>8}", "ws_mib", "think");
    for (auto& bu : s["axes"]["burst_updates"]) out += fmt::format("{:>10}", bu.get<uint64_t>());
    out += "\n";
    for (auto& ws : s["axes"]["ws_mib"])
        for (auto& tt : s["axes"]["think_ticks"]) {
            out += fmt::format("{:>8}{:>8}", ws.get<uint64_t>(), tt.get<uint64_t>());
            for (auto& bu : s["axes"]["burst_updates"]) {
                std::string cell = "-";
                for (auto& p : s["points"])
                    if (p["ws_mib"] == ws && p["think_ticks"] == tt && p["burst_updates"] == bu &&
                        p["actions_per_sec"] == 10.0 && !p["slat/shadow"].is_null())
                        cell = fmt::format("{:.3g}x", p["slat/shadow"].get<double>());
                out += fmt::format("{:>10}", cell);
            }
            out += "\n";
        }
    out += fmt::format("{} of {} grid points (all A) lie in the published {}-{}x band\n",
                       s["in_band"].get<size_t>(), s["measured"].get<size_t>(),
                       s["published_band"][0].get<double>(), s["published_band"][1].get<double>());
    return out;
}

std::string study_table(const ojson& s) {
    std::string out;
    const ojson& caps = s["capacity"];
    std::vector<std::string> names;
    for (auto& [k, v] : caps.items()) names.push_back(k);
    out += fmt::format("scaling study ({}): cycles per session-action (M) by K\n",
                       s["status"].get<std::string>());
    out += fmt::format("{:>6}", "K");
    for (auto& n : names) out += fmt::format("{:>14}", n);
    out += fmt::format("{:>14}\n", "shadow/slat");
    for (auto& p : s["points"]) {
        out += fmt::format("{:>6}", p["sessions"].get<uint64_t>());
        if (p["status"] != "ok") {
            out += fmt::format("  failed: {}\n", p.value("failure", std::string("?")));
            continue;
        }
        for (auto& n : names)
            out +=
                fmt::format("{:>14.3f}", p["backends"][n]["cycles_per_action"].get<double>() / 1e6);
        if (p["backends"].contains("slat") && p["backends"].contains("shadow"))
            out += fmt::format("{:>#13.3g}x",
                               p["backends"]["shadow"]["cycles_per_action"].get<double>() /
                                   p["backends"]["slat"]["cycles_per_action"].get<double>());
        out += "\n";
    }
    if (!names.empty()) out += "shadow/slat: shadow cycles per action / slat cycles per action\n";
    uint64_t largest_k = 0;
    for (auto& p : s["points"])
        if (p["status"] == "ok") largest_k = std::max(largest_k, p["sessions"].get<uint64_t>());
    const ojson& m = s["capacity_model"];
    out += fmt::format(
        "capacity: {} cores x GHz (per backend) x {} utilisation, {} actions/s per user\n",
        m["cores"]["value"].get<double>(), m["utilisation"]["value"].get<double>(),
        m["actions_per_sec"]["value"].get<double>());
    for (auto& n : names) {
        const ojson& c = caps[n];
        if (!c["sessions"].is_number()) {
            out += fmt::format("  {:<8} no usable run\n", n);
            continue;
        }
        out += fmt::format("  {:<8} {:<14} {:.2f} GHz  sustains {} sessions (crossing {:.1f}{})\n",
                           n, c["profile"].get<std::string>(), c["ghz"].get<double>(),
                           c["sessions"].get<uint64_t>(), c["crossing"].get<double>(),
                           c["extrapolated"].get<bool>() ? ", extrapolated past the last K" : "");
        // Past the measured K the model holds cycles per action flat: far past, that is a guess.
        double crossing = c["crossing"].get<double>();
        if (c["extrapolated"].get<bool>() && largest_k > 0 &&
            crossing > kFarExtrapolation * double(largest_k))
            out += fmt::format("  warning: {} crosses at {:.0f} sessions, {:#.3g}x the largest "
                               "measured K ({}): past it cycles per action are assumed flat\n",
                               n, crossing, crossing / double(largest_k), largest_k);
    }
    const ojson& r = s["ratio"];
    if (r["slat/shadow"].is_number())
        out += fmt::format("slat/shadow sessions: {:#.3g}x  (published {}-{}x: {})\n",
                           r["slat/shadow"].get<double>(), kPublishedLow, kPublishedHigh,
                           r["verdict"].get<std::string>());
    else
        out += "slat/shadow sessions: not measured (needs both backends)\n";
    return out;
}

namespace {

ojson row_json(const DensityRow& r, bool dedup) {
    ojson row = {{"vms", r.vms}, {"guest_frames_touched", r.guest_frames_touched}};
    if (dedup) {
        row["frames_in_use_peak"] = r.frames_in_use_peak;
        row["frames_saved"] = r.dedup.frames_saved;
        row["frames_saved_peak"] = r.dedup.frames_saved_peak;
        row["merges"] = r.dedup.merges;
        row["breaks"] = r.dedup.breaks;
    }
    row["backends"] = ojson::object();
    for (auto& b : r.backends) {
        ojson bj = {{"cycles", b.point.cycles},
                    {"cycles_per_vm", b.point.cycles / double(r.vms)},
                    {"demand_cycles_per_sec", b.demand},
                    {"host_bytes", b.point.host_bytes},
                    {"structure_pages", b.structure_pages},
                    {"world_switches", b.world_switches},
                    {"fits_cpu", b.fits_cpu},
                    {"fits_memory", b.fits_memory}};
        if (dedup) bj["scan_cycles"] = b.scan_cycles;
        row["backends"][b.name] = std::move(bj);
    }
    return row;
}

ojson rows_json(const DensitySeries& s, bool dedup) {
    ojson rows = ojson::array();
    for (auto& r : s.rows) rows.push_back(row_json(r, dedup));
    return rows;
}

ojson limit_json(const DensityLimit& d, const HostModel& h) {
    return {{"vms", d.vms()},
            {"bound", d.bound()},
            {"cpu_vms", d.cpu.sessions},
            {"cpu_crossing", d.cpu.crossing},
            {"cpu_extrapolated", d.cpu.extrapolated},
            {"memory_vms", d.memory_vms},
            {"memory_extrapolated", d.memory_extrapolated},
            {"ghz", h.ghz}};
}

} // namespace

std::string density_point_line(const DensityRow& row, bool dedup) {
    return fmt::format("  {} VM{}{}: {}\n", row.vms, row.vms > 1 ? "s" : "",
                       dedup ? " (dedup)" : "", row.any_fits ? "fits" : "host full");
}

DensityReport density_report(const DensityStudy& d) {
    const DensityOptions& f = d.options;
    const RunOptions& vm = f.vm;
    const DensitySeries& asked = d.asked;
    ojson results = ojson::object(), plain_results = ojson::object();
    std::string table =
        vm.dedup ? fmt::format("{:<10}{:>8}{:>10}{:>10}{:>9}{:>13}{:>9}{:>11}{:>12}  {}\n",
                               "backend", "VMs", "cpu VMs", "mem VMs", "bound", "w/o dedup",
                               "bound", "saved MiB", "scan Mcyc", "note")
                 : fmt::format("{:<10}{:>8}{:>10}{:>10}{:>10}  {}\n", "backend", "VMs", "cpu VMs",
                               "mem VMs", "bound", "note");
    for (auto& [name, lim] : d.limits) {
        const HostModel& host = d.hosts.at(name);
        const std::vector<DensityPoint>& pts = asked.points.at(name);
        results[name] = limit_json(lim, host);
        bool extrapolated = lim.cpu.extrapolated || lim.memory_extrapolated;
        if (!vm.dedup) {
            table += fmt::format("{:<10}{:>8}{:>10}{:>10}{:>10}  {}\n", name, lim.vms(),
                                 lim.cpu.sessions, lim.memory_vms, lim.bound(),
                                 extrapolated ? "extrapolated past the largest measured N" : "");
            continue;
        }
        // At the largest N measured with sharing: what the scanner saved and what it cost.
        double scan = asked.scan_cycles.count(name) ? asked.scan_cycles.at(name) : 0;
        ojson& r = results[name];
        r["measured_vms"] = pts.back().vms;
        r["bytes_saved"] = asked.dedup.frames_saved << 12;
        r["bytes_saved_peak"] = asked.dedup.frames_saved_peak << 12;
        r["scan_cycles"] = scan;
        r["scan_share_of_cycles"] = scan / pts.back().cycles;
        std::string without = "-", without_bound = "";
        if (auto it = d.plain_limits.find(name); it != d.plain_limits.end()) {
            const DensityLimit& p = it->second;
            plain_results[name] = limit_json(p, host);
            r["vms_without_dedup"] = p.vms();
            r["bound_without_dedup"] = p.bound();
            without = fmt::format("{}", p.vms());
            without_bound = p.bound();
            extrapolated |= p.cpu.extrapolated || p.memory_extrapolated;
        }
        table +=
            fmt::format("{:<10}{:>8}{:>10}{:>10}{:>9}{:>13}{:>9}{:>11.2f}{:>12.2f}  {}\n", name,
                        lim.vms(), lim.cpu.sessions, lim.memory_vms, lim.bound(), without,
                        without_bound, (asked.dedup.frames_saved << 12) / 1048576.0, scan / 1e6,
                        extrapolated ? "extrapolated past the largest measured N" : "");
    }
    ojson doc;
    doc["schema"] = "vmmu.study.density/1";
    doc["config"] = {{"workload", vm.workload},
                     {"params", vm.params},
                     {"profile", vm.profile},
                     {"backends", vm.backends},
                     {"max_vms", f.max_vms},
                     {"quantum", f.quantum},
                     {"host_mib", {{"value", f.host_mib}, {"source", kHostMibSource}}},
                     {"cores", {{"value", f.cores}, {"source", kCoresSource}}},
                     {"utilisation", {{"value", f.util}, {"source", kUtilisationSource}}},
                     {"jobs_per_sec", {{"value", f.jobs_per_sec}, {"source", kJobsSource}}}};
    if (vm.dedup)
        doc["config"]["dedup"] = {{"period", vm.dedup_period},
                                  {"pages_per_pass", vm.dedup_pages},
                                  {"baseline", d.compare},
                                  {"scan_cycles_basis", "estimate (engine/host/dedup.h)"}};
    doc["points"] = rows_json(asked, vm.dedup);
    doc["results"] = results;
    if (d.compare)
        doc["without_dedup"] = {{"points", rows_json(d.plain, false)}, {"results", plain_results}};
    if (results.contains("slat") && results.contains("shadow") &&
        results["shadow"]["vms"].get<uint64_t>() > 0) {
        double ratio = double(results["slat"]["vms"].get<uint64_t>()) /
                       double(results["shadow"]["vms"].get<uint64_t>());
        doc["slat_over_shadow"] = ratio;
        table += fmt::format("slat/shadow: {:#.3g}\n", ratio);
    }
    Provenance prov = tool_provenance();
    prov.profile_sets = vm.profile_sets;
    doc["provenance"] = provenance_json(prov, doc["config"]);
    return {std::move(doc), std::move(table)};
}

} // namespace vmmu
