#include "engine/experiment/density.h"

#include <fmt/format.h>

#include <stdexcept>

namespace vmmu {

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

} // namespace vmmu
