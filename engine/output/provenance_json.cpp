#include "engine/output/provenance_json.h"

namespace vmmu {
using ojson = nlohmann::ordered_json;

ojson provenance_json(const Provenance& p, const ojson& config) {
    ojson j;
    j["vmmu_version"] = p.vmmu_version;
    j["unicorn_version"] = p.unicorn_version;
    j["capstone_version"] = p.capstone_version;
    j["inputs"] = p.inputs; // std::map: sorted keys
    j["set"] = p.profile_sets;
    if (!config.is_null()) j["config"] = config;
    return j;
}

ojson resolved_config(const RunOutput& out) {
    const RunOptions& o = out.options;
    ojson profiles = ojson::object();
    ojson ghz = ojson::object();
    for (auto& b : out.backends) {
        profiles[b.name] = b.profile;
        ghz[b.name] = b.core_ghz;
    }
    return {{"workload", out.workload.name},
            {"params", out.params},
            {"backends", o.backends},
            {"profiles", profiles},
            {"core_ghz", ghz},
            {"guest_mib", o.guest_mib},
            {"timer_period", o.timer_period},
            {"max_instructions", o.max_instructions},
            {"guest_pages", o.guest_pages},
            {"ept_pages", o.ept_pages},
            {"pwc", o.pwc},
            {"ntlb", o.ntlb},
            {"oracle", o.oracle},
            {"shadow_opts", o.shadow_opts},
            {"kernel", o.kernel.empty() ? std::string("(built)") : o.kernel},
            {"programs", o.programs},
            {"dedup", o.dedup},
            {"dedup_period", o.dedup_period},
            {"dedup_pages", o.dedup_pages}};
}

void add_provenance(ojson& doc, ojson provenance) {
    ojson sim;
    bool had_sim = doc.contains("sim");
    if (had_sim) {
        sim = std::move(doc["sim"]);
        doc.erase("sim");
    }
    doc["provenance"] = std::move(provenance);
    if (had_sim) doc["sim"] = std::move(sim);
}

} // namespace vmmu
