#include "engine/output/study_report.h"

#include "engine/experiment/study.h"

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
    return {std::move(doc), std::move(table)};
}

} // namespace vmmu
