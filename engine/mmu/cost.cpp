#include "engine/mmu/cost.h"

namespace vmmu {
namespace {
double detail(const BackendCounters& c, std::string_view key) {
    auto it = c.details.find(std::string(key));
    return it == c.details.end() ? 0.0 : static_cast<double>(it->second);
}
} // namespace

CycleBreakdown compute_cycles(const BackendCounters& c, const Profile& p,
                              uint64_t guest_instructions) {
    CycleBreakdown b;
    b.base = static_cast<double>(guest_instructions) * p.base_cpi;
    b.walk = static_cast<double>(c.walks.refs) * p.walk_ref_cycles +
             static_cast<double>(c.walks.pwc_hits) * p.pwc_hit_cycles +
             static_cast<double>(c.walks.ntlb_hits) * p.ntlb_hit_cycles;
    b.exit = static_cast<double>(c.exits.total()) * p.exit_round_trip_cycles;
    for (size_t r = 0; r < c.exits.by_reason.size(); ++r)
        b.handler += static_cast<double>(c.exits.by_reason[r]) * p.handler_cycles[r];
    b.handler += detail(c, kDetailHvRefs) * p.walk_ref_cycles + detail(c, kDetailHvCycles) +
                 detail(c, kDetailDedupCycles) +
                 detail(c, kDetailHvFlushEntries) * p.hv_flush_entry_cycles;
    return b;
}

} // namespace vmmu
