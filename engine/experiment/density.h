// The density study (`vmmu study density`): how many VMs of one workload a host sustains, per
// backend, limited by the host CPU (the scaling study's capacity model, capacity.h) or by host
// memory. density_limit is pure: it turns measured N-VM runs into the answer; run_density_study
// measures them (engine/output/study_report.h prints the result).
//
// CPU: every VM must complete its workload `jobs_per_sec` times a second, so N VMs demand
//     N × jobs_per_sec × cycles_per_vm(N)   cycles/s ≤ U × C × F × 1e9,
// with cycles_per_vm(N) = the N-VM run's modelled cycles / N (world switches included).
// Memory: N VMs need Σ (guest frames touched + the backend's own structure pages) × 4 KiB ≤ H.
#pragma once

#include "engine/experiment/capacity.h"
#include "engine/experiment/multi_vm.h"
#include "engine/experiment/run.h"
#include "engine/host/dedup.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace vmmu {

// One measured N for one backend.
struct DensityPoint {
    uint64_t vms = 0;
    double cycles = 0;       // modelled cycles of all N VMs together
    uint64_t host_bytes = 0; // guest frames touched + backend structures, all N VMs
};

struct DensityLimit {
    Capacity cpu;                     // VMs the CPU sustains (capacity.h; may be extrapolated)
    uint64_t memory_vms = 0;          // VMs whose memory fits in the host
    bool memory_extrapolated = false; // beyond the largest measured N, per-VM memory held
    uint64_t vms() const { return std::min(cpu.sessions, memory_vms); }
    const char* bound() const { return cpu.sessions <= memory_vms ? "cpu" : "memory"; }
};

// Per-VM memory of the last point stands in for every N past it (each VM adds the same).
// Points must be sorted by vms, distinct, non-empty; throws std::invalid_argument otherwise.
DensityLimit density_limit(const std::vector<DensityPoint>& points, const HostModel& host,
                           uint64_t host_bytes);

// Default demand: every VM finishes its workload this many times per second.
inline constexpr double kJobsPerSec = 20;
extern const char* const kJobsSource;
extern const char* const kHostMibSource;

struct DensityOptions {
    RunOptions vm; // one VM, from the run flags
    uint64_t max_vms = 6;
    uint64_t host_mib = 16384;
    double cores = 4, ghz = 0, util = 0.8, jobs_per_sec = kJobsPerSec;
    uint64_t quantum = kDefaultQuantum;
    std::string dedup_baseline = "on"; // with dedup, also measure without it: on or off
};

// One backend at one measured N.
struct DensityBackendPoint {
    std::string name;
    DensityPoint point;
    double demand = 0;            // cycles per second the N VMs need
    uint64_t structure_pages = 0; // EPT tables and shadow pages (host memory too)
    uint64_t world_switches = 0;
    bool fits_cpu = false, fits_memory = false;
    double scan_cycles = 0; // with dedup: the scanner's part of the cycles
};

// One measured N: N VMs of the workload together.
struct DensityRow {
    uint64_t vms = 0;
    uint64_t guest_frames_touched = 0;
    uint64_t frames_in_use_peak = 0;           // with dedup
    DedupCounters dedup;                       // with dedup, host-wide
    std::vector<DensityBackendPoint> backends; // in the run's backend order
    bool any_fits = false;
};

// N = 1, 2, ... VMs of one VM configuration until no backend fits or max_vms.
struct DensitySeries {
    std::vector<DensityRow> rows;
    std::map<std::string, std::vector<DensityPoint>> points;
    std::map<std::string, double> scan_cycles; // per backend, at the last N measured
    DedupCounters dedup;                       // host-wide, at the last N measured
};

struct DensityStudy {
    DensityOptions options; // as run: vm holds the workload's study defaults
    std::map<std::string, HostModel> hosts;
    uint64_t host_bytes = 0;
    bool compare = false; // with dedup: the series without it was measured too
    DensitySeries asked, plain;
    std::map<std::string, DensityLimit> limits, plain_limits; // per backend
};

// Called after each measured N (whether the series measures deduplication).
using DensityProgress = std::function<void(const DensityRow&, bool dedup)>;

// Checks the options (std::invalid_argument), then measures; stops after the N under way once
// a stop is requested (engine/core/stop_request.h), keeping what was measured.
DensityStudy run_density_study(const DensityOptions& options, const DensityProgress& progress);

} // namespace vmmu
