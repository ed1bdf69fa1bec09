#include "engine/mmu/cost.h"

namespace vmmu {
namespace {
double detail(const BackendCounters& c, std::string_view key) {
    auto it = c.details.find(std::string(key));
    return it == c.details.end() ? 0.0 : static_cast<double>(it->second);
}
} // namespace

double dimension_ref_cycles(const BackendCounters& c, const Profile& p, WalkDimension d) {
    double cycles = 0;
    for (size_t l = 0; l < CacheCounters::kLevels; ++l)
        cycles += static_cast<double>(c.caches.walk[static_cast<size_t>(d)][l]) *
                  p.caches.latency(static_cast<CacheLevel>(l));
    return cycles;
}

double walk_ref_cycles(const BackendCounters& c, const Profile& p) {
    if (!c.caches.modelled) return static_cast<double>(c.walks.refs) * p.walk_ref_cycles;
    double cycles = 0;
    for (size_t d = 0; d < CacheCounters::kDims; ++d)
        cycles += dimension_ref_cycles(c, p, static_cast<WalkDimension>(d));
    return cycles;
}

CycleBreakdown compute_cycles(const BackendCounters& c, const Profile& p,
                              uint64_t guest_instructions) {
    CycleBreakdown b;
    b.base = static_cast<double>(guest_instructions) * p.base_cpi;
    b.walk = walk_ref_cycles(c, p) + static_cast<double>(c.walks.pwc_hits) * p.pwc_hit_cycles +
             static_cast<double>(c.walks.ntlb_hits) * p.ntlb_hit_cycles;
    if (c.caches.modelled)
        for (size_t d = 0; d < CacheCounters::kDims; ++d)
            b.walk_refs_by_dimension[d] = dimension_ref_cycles(c, p, static_cast<WalkDimension>(d));
    if (c.caches.modelled && c.caches.price_data)
        for (size_t l = 1; l < c.caches.data.size(); ++l)
            b.data += static_cast<double>(c.caches.data[l]) *
                      (p.caches.latency(static_cast<CacheLevel>(l)) - p.caches.l1d.latency);
    b.exit = static_cast<double>(c.exits.total()) * p.exit_round_trip_cycles;
    for (size_t r = 0; r < c.exits.by_reason.size(); ++r)
        b.handler += static_cast<double>(c.exits.by_reason[r]) * p.handler_cycles[r];
    b.handler += detail(c, kDetailHvRefs) * p.walk_ref_cycles + detail(c, kDetailHvCycles) +
                 detail(c, kDetailDedupCycles) +
                 detail(c, kDetailHvFlushEntries) * p.hv_flush_entry_cycles;
    return b;
}

} // namespace vmmu
