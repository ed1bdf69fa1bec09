#include "engine/output/report_json.h"

namespace vmmu {
namespace {
template <size_t N> nlohmann::ordered_json by_level(const std::array<uint64_t, N>& counts) {
    nlohmann::ordered_json j;
    for (size_t l = 0; l < N; ++l) j[std::string(kCacheLevelNames[l])] = counts[l];
    return j;
}
} // namespace

nlohmann::ordered_json caches_json(const BackendCounters& c, const CycleBreakdown& cycles) {
    using nlohmann::ordered_json;
    const CacheCounters& k = c.caches;
    ordered_json j;
    j["modelled"] = k.modelled;
    if (!k.modelled) return j;
    std::array<uint64_t, CacheCounters::kLevels> all{};
    for (size_t l = 0; l < all.size(); ++l) all[l] = k.walk_at(static_cast<CacheLevel>(l));
    j["walk_refs"] = by_level(all);
    ordered_json dims;
    for (size_t d = 0; d < CacheCounters::kDims; ++d)
        dims[std::string(kWalkDimensionNames[d])] = by_level(k.walk[d]);
    j["walk_refs_by_dimension"] = std::move(dims);
    double walks = static_cast<double>(c.walks.walks);
    ordered_json per_walk;
    per_walk["all"] = walks ? cycles.walk / walks : 0.0;
    for (size_t d = 0; d < CacheCounters::kDims; ++d)
        per_walk[std::string(kWalkDimensionNames[d])] =
            walks ? cycles.walk_refs_by_dimension[d] / walks : 0.0;
    j["walk_cycles_per_walk"] = std::move(per_walk);
    j["data"] = by_level(k.data);
    j["data_misses_from_walks"] = by_level(k.data_misses_from_walks);
    j["price_data"] = k.price_data;
    return j;
}

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
    j["caches"] = caches_json(c, cycles);
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
    if (c.caches.price_data) j["cycles"]["data"] = cycles.data;
    return j;
}

} // namespace vmmu
