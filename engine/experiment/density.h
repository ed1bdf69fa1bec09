// The density study (`vmmu study density`): how many VMs of one workload a host sustains, per
// backend, limited by the host CPU (the scaling study's capacity model, capacity.h) or by host
// memory. This part is pure: it turns measured N-VM runs into the answer.
//
// CPU: every VM must complete its workload `jobs_per_sec` times a second, so N VMs demand
//     N × jobs_per_sec × cycles_per_vm(N)   cycles/s ≤ U × C × F × 1e9,
// with cycles_per_vm(N) = the N-VM run's modelled cycles / N (world switches included).
// Memory: N VMs need Σ (guest frames touched + the backend's own structure pages) × 4 KiB ≤ H.
#pragma once

#include "engine/experiment/capacity.h"

#include <nlohmann/json.hpp>

#include <cstdint>
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

} // namespace vmmu
