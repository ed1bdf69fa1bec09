#include "engine/experiment/density.h"

#include "engine/core/stop_request.h"
#include "engine/experiment/paths.h"
#include "engine/mmu/cost.h"
#include "engine/mmu/profile.h"

#include <fmt/format.h>

#include <stdexcept>
#include <string_view>

namespace vmmu {

const char* const kJobsSource =
    "estimate: a VM of the default workload (forkwait n=200, ~2e7 modelled cycles) 20 times a "
    "second keeps about 15% of one 2.9 GHz core busy, a lightly loaded consolidated server";
const char* const kHostMibSource = "estimate: 16 GiB, a small 2009-era virtualization host";

namespace {

uint64_t detail(const BackendResult& b, std::string_view key) {
    auto it = b.counters.details.find(std::string(key));
    return it == b.counters.details.end() ? 0 : it->second;
}

DensitySeries measure(const RunOptions& vm, const DensityOptions& f,
                      const std::map<std::string, HostModel>& hosts, uint64_t host_bytes,
                      const DensityProgress& progress) {
    DensitySeries s;
    for (uint64_t n = 1; n <= f.max_vms; ++n) {
        MultiOptions m;
        m.vms.assign(n, vm);
        m.quantum = f.quantum;
        MultiOutput out = execute_multi(m);
        if (multi_exit_code(out) != 0)
            throw std::runtime_error(fmt::format("density: the {}-VM run{} failed ({})", n,
                                                 vm.dedup ? " with --dedup" : "",
                                                 multi_status(out)));
        DensityRow row;
        row.vms = n;
        for (auto& v : out.vms) row.guest_frames_touched += v.memory.frames_touched;
        // With sharing the host holds what the VMs touched less what the scanner saved, at
        // the worst moment of the run (MultiOutput::frames_in_use_peak).
        uint64_t frames = vm.dedup ? out.frames_in_use_peak : row.guest_frames_touched;
        if (vm.dedup) {
            s.dedup = out.vms[0].run.dedup->host;
            row.frames_in_use_peak = frames;
            row.dedup = s.dedup;
        }
        for (size_t i = 0; i < out.totals.size(); ++i) {
            const BackendResult& b = out.totals[i];
            // CPU is priced on the measured window (README.md "Windows"), except with
            // deduplication: its scanner's work is charged over the whole run. Memory (frames,
            // structures) is what the run left behind either way.
            double cycles = vm.dedup ? b.cycles.total() : out.measured_totals[i].cycles.total();
            DensityBackendPoint bp;
            bp.name = b.name;
            // The backend's own structures live in host memory too (EPT tables, shadow pages).
            bp.structure_pages = detail(b, "ept_table_pages") + detail(b, "shadow_pages");
            bp.point = DensityPoint{n, cycles, (frames + bp.structure_pages) << 12};
            s.points[b.name].push_back(bp.point);
            const HostModel& h = hosts.at(b.name);
            bp.demand = double(n) * h.actions_per_sec * (bp.point.cycles / double(n));
            bp.fits_cpu = bp.demand <= h.cycles_per_second();
            bp.fits_memory = bp.point.host_bytes <= host_bytes;
            bp.world_switches = detail(b, "world_switches");
            row.any_fits |= bp.fits_cpu && bp.fits_memory;
            if (vm.dedup) {
                // Part of `cycles`: the scanner runs on the host CPU (engine/host/dedup.h).
                bp.scan_cycles = double(detail(b, kDetailDedupCycles));
                s.scan_cycles[b.name] = bp.scan_cycles;
            }
            row.backends.push_back(std::move(bp));
        }
        s.rows.push_back(row);
        if (progress) progress(s.rows.back(), vm.dedup);
        if (!row.any_fits || stop_requested()) break; // every backend has run out
    }
    return s;
}

} // namespace

DensityLimit density_limit(const std::vector<DensityPoint>& points, const HostModel& host,
                           uint64_t host_bytes) {
    if (points.empty()) throw std::invalid_argument("density: no measured points");
    if (host_bytes == 0) throw std::invalid_argument("density: host memory must be > 0");
    std::vector<ScalingPoint> cpu;
    for (auto& p : points) {
        if (p.vms == 0 || p.host_bytes == 0)
            throw std::invalid_argument(
                fmt::format("density: point with {} VMs and {} host bytes: both must be >= 1",
                            p.vms, p.host_bytes));
        cpu.push_back({p.vms, p.cycles / double(p.vms)});
    }
    DensityLimit d;
    d.cpu = sustainable_sessions(cpu, host); // checks order and positivity
    // Memory: the largest measured N that fits; past the last point each VM adds its share.
    uint64_t fits = 0;
    for (auto& p : points)
        if (p.host_bytes <= host_bytes)
            fits = p.vms;
        else
            break;
    const DensityPoint& last = points.back();
    if (fits == last.vms) {
        double per_vm = double(last.host_bytes) / double(last.vms);
        uint64_t more = uint64_t((double(host_bytes) - double(last.host_bytes)) / per_vm);
        d.memory_vms = last.vms + more;
        d.memory_extrapolated = more > 0;
    } else {
        d.memory_vms = fits;
    }
    return d;
}

DensityStudy run_density_study(const DensityOptions& options, const DensityProgress& progress) {
    DensityStudy d;
    d.options = options;
    DensityOptions& f = d.options;
    RunOptions& vm = f.vm;
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
    if (vm.dedup && vm.backends.empty())
        throw std::invalid_argument("--dedup with --backends none: deduplication needs a host "
                                    "backend (shadow or slat)");
    for (auto& b : vm.backends) {
        auto it = vm.backend_profile.find(b);
        // The clock with the --set overrides the runs use.
        Profile p = load_profile(it != vm.backend_profile.end() ? it->second : vm.profile,
                                 profile_dir(), vm.profile_sets);
        d.hosts[b] = HostModel{f.cores, f.ghz > 0 ? f.ghz : p.core_ghz, f.util, f.jobs_per_sec};
    }
    // Every N runs the same VM: bad run flags fail here, before the first point is measured.
    check_run_options(vm);
    d.host_bytes = f.host_mib << 20;
    d.compare = vm.dedup && f.dedup_baseline == "on";
    d.asked = measure(vm, f, d.hosts, d.host_bytes, progress);
    if (d.compare && !stop_requested()) {
        RunOptions off = vm;
        off.dedup = false;
        d.plain = measure(off, f, d.hosts, d.host_bytes, progress);
    }
    for (auto& [name, pts] : d.asked.points) {
        d.limits[name] = density_limit(pts, d.hosts[name], d.host_bytes);
        if (d.compare && d.plain.points.count(name))
            d.plain_limits[name] = density_limit(d.plain.points[name], d.hosts[name], d.host_bytes);
    }
    return d;
}

} // namespace vmmu
