// `vmmu study density`: VMs of one workload added one by one on a modelled host (density.h).
#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/experiment/density.h"
#include "engine/experiment/interrupt.h"
#include "engine/experiment/multi_vm.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/run_flags.h"
#include "engine/experiment/study.h"
#include "engine/mmu/cost.h"
#include "engine/mmu/profile.h"

#include <fmt/format.h>

#include <stdexcept>
#include <string_view>

namespace vmmu {
namespace {
using ojson = nlohmann::ordered_json;

// Default demand: every VM finishes its workload this many times per second.
constexpr double kJobsPerSec = 20;
const char* const kJobsSource =
    "estimate: a VM of the default workload (forkwait n=200, ~2e7 modelled cycles) 20 times a "
    "second keeps about 15% of one 2.9 GHz core busy, a lightly loaded consolidated server";
const char* const kHostMibSource = "estimate: 16 GiB, a small 2009-era virtualization host";

struct DensityFlags {
    RunFlags run;
    uint64_t max_vms = 6;
    uint64_t host_mib = 16384;
    double cores = 4, ghz = 0, util = 0.8, jobs_per_sec = kJobsPerSec;
    uint64_t quantum = kDefaultQuantum;
    std::string dedup_baseline = "on";
    std::string json_path;
};

uint64_t detail(const BackendResult& b, std::string_view key) {
    auto it = b.counters.details.find(std::string(key));
    return it == b.counters.details.end() ? 0 : it->second;
}

// One series: N = 1, 2, ... VMs of `vm` until no backend fits or max_vms.
struct Series {
    std::map<std::string, std::vector<DensityPoint>> points;
    std::map<std::string, double> scan_cycles; // per backend, at the last N measured
    DedupCounters dedup;                       // host-wide, at the last N measured
    ojson rows = ojson::array();
};

Series measure(const RunOptions& vm, const DensityFlags& f,
               const std::map<std::string, HostModel>& hosts, uint64_t host_bytes,
               InterruptGuard& interrupt) {
    Series s;
    for (uint64_t n = 1; n <= f.max_vms; ++n) {
        MultiOptions m;
        m.vms.assign(n, vm);
        m.quantum = f.quantum;
        MultiOutput out = execute_multi(m);
        if (multi_exit_code(out) != 0)
            throw std::runtime_error(fmt::format("density: the {}-VM run{} failed ({})", n,
                                                 vm.dedup ? " with --dedup" : "",
                                                 multi_status(out)));
        uint64_t touched = 0;
        for (auto& v : out.vms) touched += v.memory.frames_touched;
        // With sharing the host holds what the VMs touched less what the scanner saved, at
        // the worst moment of the run (MultiOutput::frames_in_use_peak).
        uint64_t frames = vm.dedup ? out.frames_in_use_peak : touched;
        ojson row = {{"vms", n}, {"guest_frames_touched", touched}};
        if (vm.dedup) {
            s.dedup = out.vms[0].run.dedup->host;
            row["frames_in_use_peak"] = frames;
            row["frames_saved"] = s.dedup.frames_saved;
            row["frames_saved_peak"] = s.dedup.frames_saved_peak;
            row["merges"] = s.dedup.merges;
            row["breaks"] = s.dedup.breaks;
        }
        row["backends"] = ojson::object();
        bool any_fits = false;
        for (auto& b : out.totals) {
            // The backend's own structures live in host memory too (EPT tables, shadow pages).
            uint64_t own = detail(b, "ept_table_pages") + detail(b, "shadow_pages");
            DensityPoint p{n, b.cycles.total(), (frames + own) << 12};
            s.points[b.name].push_back(p);
            const HostModel& h = hosts.at(b.name);
            double demand = double(n) * h.actions_per_sec * (p.cycles / double(n));
            bool cpu_ok = demand <= h.cycles_per_second(), mem_ok = p.host_bytes <= host_bytes;
            any_fits |= cpu_ok && mem_ok;
            ojson bj = {{"cycles", p.cycles},
                        {"cycles_per_vm", p.cycles / double(n)},
                        {"demand_cycles_per_sec", demand},
                        {"host_bytes", p.host_bytes},
                        {"structure_pages", own},
                        {"world_switches", detail(b, "world_switches")},
                        {"fits_cpu", cpu_ok},
                        {"fits_memory", mem_ok}};
            if (vm.dedup) {
                // Part of `cycles`: the scanner runs on the host CPU (engine/host/dedup.h).
                s.scan_cycles[b.name] = double(detail(b, kDetailDedupCycles));
                bj["scan_cycles"] = s.scan_cycles[b.name];
            }
            row["backends"][b.name] = std::move(bj);
        }
        s.rows.push_back(row);
        fmt::print("  {} VM{}{}: {}\n", n, n > 1 ? "s" : "", vm.dedup ? " (dedup)" : "",
                   any_fits ? "fits" : "host full");
        if (!any_fits || interrupt.exit_code()) break; // every backend has run out
    }
    return s;
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

int run_density(DensityFlags& f) {
    if (!f.json_path.empty()) check_output_file(f.json_path, "--json");
    RunOptions vm = f.run.resolve();
    // The default workload's default size is long for a study of many runs.
    if (vm.workload == "forkwait" && vm.params.empty()) vm.params = {"n=200"};
    if (f.max_vms < 1 || f.max_vms > 64)
        throw std::invalid_argument(fmt::format("--max-vms {}: give 1 to 64", f.max_vms));
    // The teaching guests touch well under 1 MiB each: a host of a few MiB makes memory the
    // limit. The cap keeps the shift to bytes from wrapping.
    if (f.host_mib < 1 || f.host_mib > (uint64_t{1} << 30))
        throw std::invalid_argument(
            fmt::format("--host-mib {}: give 1 to 1073741824 (MiB of host memory)", f.host_mib));
    if (f.quantum == 0) throw std::invalid_argument("--quantum 0: give at least 1");
    if (f.dedup_baseline != "on" && f.dedup_baseline != "off")
        throw std::invalid_argument(
            fmt::format("--dedup-baseline '{}': valid values are on, off", f.dedup_baseline));
    if (f.run.o.dedup && vm.backends.empty())
        throw std::invalid_argument("--dedup with --backends none: deduplication needs a host "
                                    "backend (shadow or slat)");
    std::map<std::string, HostModel> hosts;
    for (auto& b : vm.backends) {
        auto it = vm.backend_profile.find(b);
        Profile p =
            load_profile(it != vm.backend_profile.end() ? it->second : vm.profile, profile_dir());
        hosts[b] = HostModel{f.cores, f.ghz > 0 ? f.ghz : p.core_ghz, f.util, f.jobs_per_sec};
    }
    const uint64_t host_bytes = f.host_mib << 20;
    const bool compare = vm.dedup && f.dedup_baseline == "on";
    InterruptGuard interrupt;
    Series asked = measure(vm, f, hosts, host_bytes, interrupt);
    Series plain;
    if (compare && !interrupt.exit_code()) {
        RunOptions off = vm;
        off.dedup = false;
        plain = measure(off, f, hosts, host_bytes, interrupt);
    }

    ojson results = ojson::object(), plain_results = ojson::object();
    std::string table =
        vm.dedup ? fmt::format("{:<10}{:>8}{:>10}{:>10}{:>9}{:>13}{:>9}{:>11}{:>12}  {}\n",
                               "backend", "VMs", "cpu VMs", "mem VMs", "bound", "w/o dedup",
                               "bound", "saved MiB", "scan Mcyc", "note")
                 : fmt::format("{:<10}{:>8}{:>10}{:>10}{:>10}  {}\n", "backend", "VMs", "cpu VMs",
                               "mem VMs", "bound", "note");
    for (auto& [name, pts] : asked.points) {
        DensityLimit d = density_limit(pts, hosts[name], host_bytes);
        results[name] = limit_json(d, hosts[name]);
        bool extrapolated = d.cpu.extrapolated || d.memory_extrapolated;
        if (!vm.dedup) {
            table += fmt::format("{:<10}{:>8}{:>10}{:>10}{:>10}  {}\n", name, d.vms(),
                                 d.cpu.sessions, d.memory_vms, d.bound(),
                                 extrapolated ? "extrapolated past the largest measured N" : "");
            continue;
        }
        // At the largest N measured with sharing: what the scanner saved and what it cost.
        ojson& r = results[name];
        r["measured_vms"] = pts.back().vms;
        r["bytes_saved"] = asked.dedup.frames_saved << 12;
        r["bytes_saved_peak"] = asked.dedup.frames_saved_peak << 12;
        r["scan_cycles"] = asked.scan_cycles[name];
        r["scan_share_of_cycles"] = asked.scan_cycles[name] / pts.back().cycles;
        std::string without = "-", without_bound = "";
        if (compare && plain.points.count(name)) {
            DensityLimit p = density_limit(plain.points[name], hosts[name], host_bytes);
            plain_results[name] = limit_json(p, hosts[name]);
            r["vms_without_dedup"] = p.vms();
            r["bound_without_dedup"] = p.bound();
            without = fmt::format("{}", p.vms());
            without_bound = p.bound();
            extrapolated |= p.cpu.extrapolated || p.memory_extrapolated;
        }
        table +=
            fmt::format("{:<10}{:>8}{:>10}{:>10}{:>9}{:>13}{:>9}{:>11.2f}{:>12.2f}  {}\n", name,
                        d.vms(), d.cpu.sessions, d.memory_vms, d.bound(), without, without_bound,
                        (asked.dedup.frames_saved << 12) / 1048576.0, asked.scan_cycles[name] / 1e6,
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
                                  {"baseline", compare},
                                  {"scan_cycles_basis", "estimate (engine/host/dedup.h)"}};
    doc["points"] = asked.rows;
    doc["results"] = results;
    if (compare) doc["without_dedup"] = {{"points", plain.rows}, {"results", plain_results}};
    if (results.contains("slat") && results.contains("shadow") &&
        results["shadow"]["vms"].get<uint64_t>() > 0) {
        double ratio = double(results["slat"]["vms"].get<uint64_t>()) /
                       double(results["shadow"]["vms"].get<uint64_t>());
        doc["slat_over_shadow"] = ratio;
        table += fmt::format("slat/shadow: {:.2f}\n", ratio);
    }
    fmt::print("{}", table);
    if (!f.json_path.empty()) {
        write_file_atomic(f.json_path, doc.dump(2) + "\n");
        fmt::print("wrote {}\n", f.json_path);
    }
    return interrupt.exit_code();
}

} // namespace

void add_density_command(CLI::App& app, Action& action) {
    CLI::App* study = app.get_subcommand("study");
    auto* c = study->add_subcommand(
        "density", "VMs of one workload added one by one until the host CPU or memory runs out");
    auto f = std::make_shared<DensityFlags>();
    f->run.o.workload = "forkwait";
    f->run.o.guest_mib = 256;
    f->run.backends = "shadow,slat";
    f->run.add(c);
    c->add_option("--max-vms", f->max_vms, "largest number of VMs measured (default 6)");
    c->add_option("--host-mib", f->host_mib,
                  "host memory in MiB (default 16384; a few MiB make memory the limit)");
    c->add_option("--dedup-baseline", f->dedup_baseline,
                  "with --dedup, also measure every N without deduplication: on or off")
        ->capture_default_str();
    c->add_option("--cores", f->cores, "host cores (default 4)");
    c->add_option("--ghz", f->ghz, "host clock (default: each backend's profile)");
    c->add_option("--util", f->util, "CPU utilisation ceiling (default 0.8)");
    c->add_option("--jobs-per-sec", f->jobs_per_sec,
                  "workload completions each VM needs per second (default 20)");
    c->add_option("--quantum", f->quantum, "guest instructions per VM quantum");
    c->add_option("--json", f->json_path, "write the vmmu.study.density/1 document here")
        ->check(non_empty_path());
    c->callback([f, &action] { action = [f] { return run_density(*f); }; });
}

} // namespace vmmu
