#include "engine/experiment/study.h"

#include <algorithm>
#include <stdexcept>

namespace vmmu {

const char* const kCoresSource =
    "Intel product specifications: Xeon X5570 (nehalem-2009) and Xeon E5450 (penryn-2008) both "
    "have 4 cores per socket; one socket per host is an estimate (the RDS post gives no host "
    "configuration)";
const char* const kUtilisationSource =
    "estimate: capacity planners keep a terminal server below about 80% CPU so that bursts do "
    "not stall interactive sessions";
const char* const kActionsSource =
    "estimate: one study action is a scaled-down application launch (1 MiB working set); 10 per "
    "second per user puts one native session near 1% of a 2.9 GHz core. Only the slat/shadow "
    "ratio is comparable with the RDS figure, not the absolute session counts";
const char* const kPublishedSource =
    "docs/ANCHORS.md: Microsoft RDS team blog, 24 June 2009: SLAT raised sessions per host 1.6x to "
    "2.5x over non-SLAT processors (knowledge-worker simulation)";

bool run_usable(const StudyRun& r) { return r.failure.empty() && r.run.is_object(); }

double run_number(const nlohmann::json& j, std::initializer_list<const char*> path) {
    const nlohmann::json* p = &j;
    for (const char* k : path) {
        if (!p->is_object() || !p->contains(k)) return 0;
        p = &(*p)[k];
    }
    return p->is_number() ? p->get<double>() : 0;
}

uint64_t run_actions(const nlohmann::json& run) {
    const nlohmann::json& rep = run["guest"]["reported"];
    if (rep.is_object() && rep.contains("sessions.apps"))
        return rep["sessions.apps"].get<uint64_t>();
    return 0;
}

HostModel host_model(const StudyHost& host, const std::string& backend) {
    HostModel m;
    m.cores = host.cores;
    m.utilisation = host.utilisation;
    m.actions_per_sec = host.actions_per_sec;
    auto it = host.profile_ghz.find(backend);
    m.ghz = host.ghz_override > 0          ? host.ghz_override
            : it == host.profile_ghz.end() ? 0
                                           : it->second;
    return m;
}

const nlohmann::json& measured_backends(const nlohmann::json& run) {
    auto w = run.find("windows");
    auto m = run.find("measured_window");
    if (w != run.end() && m != run.end() && m->is_string() && w->contains(m->get<std::string>()))
        return (*w)[m->get<std::string>()]["backends"];
    return run["backends"];
}

std::vector<std::string> study_backends(const std::vector<StudyRun>& runs) {
    std::vector<std::string> names;
    for (auto& r : runs)
        if (run_usable(r)) {
            for (auto& [k, v] : measured_backends(r.run).items()) names.push_back(k);
            break;
        }
    return names;
}

std::string study_status(const std::vector<StudyRun>& runs, bool interrupted) {
    size_t ok = std::count_if(runs.begin(), runs.end(), run_usable);
    return interrupted ? "interrupted" : ok == runs.size() ? "ok" : "partial";
}

const BackendCapacity* StudyCapacity::find(const std::string& name) const {
    for (auto& b : backends)
        if (b.name == name) return &b;
    return nullptr;
}

StudyCapacity study_capacity(const std::vector<StudyRun>& runs, const StudyHost& host) {
    StudyCapacity out;
    for (auto& name : study_backends(runs)) {
        BackendCapacity c;
        c.name = name;
        for (auto& r : runs) {
            if (!run_usable(r)) continue;
            uint64_t actions = run_actions(r.run);
            double total = run_number(measured_backends(r.run)[name], {"cycles", "total"});
            if (actions > 0 && total > 0) c.points.push_back({r.sessions, total / double(actions)});
        }
        auto pit = host.profile.find(name);
        c.profile = pit == host.profile.end() ? "" : pit->second;
        c.ghz = host_model(host, name).ghz;
        if (!c.points.empty()) c.capacity = sustainable_sessions(c.points, host_model(host, name));
        out.backends.push_back(std::move(c));
    }
    const BackendCapacity *slat = out.find("slat"), *shadow = out.find("shadow");
    if (slat && shadow && !slat->points.empty() && !shadow->points.empty() &&
        shadow->capacity.crossing > 0) {
        StudyRatio& r = out.ratio;
        r.measured = true;
        r.slat_over_shadow = slat->capacity.crossing / shadow->capacity.crossing;
        r.whole_sessions = shadow->capacity.sessions > 0
                               ? double(slat->capacity.sessions) / double(shadow->capacity.sessions)
                               : 0.0;
        r.verdict = r.slat_over_shadow < kPublishedLow    ? "below band"
                    : r.slat_over_shadow > kPublishedHigh ? "above band"
                                                          : "within band";
    }
    return out;
}

} // namespace vmmu
