#include "engine/output/report_json.h"

namespace vmmu {

nlohmann::ordered_json backend_json(const BackendCounters& c, const CycleBreakdown& cycles) {
    using nlohmann::ordered_json;
    ordered_json j;
    const TlbCounters& t = c.tlb;
    j["tlb"] = ordered_json{{"l1i_lookups", t.l1i_lookups},
                            {"l1i_misses", t.l1i_misses},
                            {"l1d_lookups", t.l1d_lookups},
                            {"l1d_misses", t.l1d_misses},
                            {"stlb_lookups", t.stlb_lookups},
                            {"stlb_misses", t.stlb_misses},
                            {"flushes", t.flushes}};
    const WalkCounters& w = c.walks;
    ordered_json walks;
    walks["count"] = w.walks;
    walks["refs"] = w.refs;
    walks["refs_by_dimension"] =
        ordered_json{{"guest", w.guest_refs}, {"nested", w.nested_refs}, {"shadow", w.shadow_refs}};
    walks["max_refs_per_walk"] = w.max_refs_per_walk;
    walks["pwc_hits"] = w.pwc_hits;
    walks["pwc_lookups"] = w.pwc_lookups;
    walks["ntlb_hits"] = w.ntlb_hits;
    walks["ntlb_lookups"] = w.ntlb_lookups;
    walks["refs_per_walk"] =
        w.walks ? static_cast<double>(w.refs) / static_cast<double>(w.walks) : 0.0;
    j["walks"] = std::move(walks);
    ordered_json by_reason;
    for (size_t r = 0; r < kExitReasonNames.size(); ++r)
        by_reason[std::string(kExitReasonNames[r])] = c.exits.by_reason[r];
    j["exits"] = ordered_json{{"total", c.exits.total()}, {"by_reason", std::move(by_reason)}};
    ordered_json details = ordered_json::object();
    for (auto& [k, v] : c.details) details[k] = v; // std::map: already sorted
    j["details"] = std::move(details);
    if (!c.hyperv.empty()) {
        ordered_json hv = ordered_json::object();
        for (auto& [k, v] : c.hyperv) hv[k] = v;
        j["hyperv_counters"] = std::move(hv);
    }
    j["cycles"] = ordered_json{{"total", cycles.total()},
                               {"base", cycles.base},
                               {"walk", cycles.walk},
                               {"exit", cycles.exit},
                               {"handler", cycles.handler}};
    return j;
}

} // namespace vmmu
