#include "engine/experiment/study.h"

#include <algorithm>
#include <stdexcept>

namespace vmmu {
using ojson = nlohmann::ordered_json;

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

namespace {

double num(const nlohmann::json& j, std::initializer_list<const char*> path) {
    const nlohmann::json* p = &j;
    for (const char* k : path) {
        if (!p->is_object() || !p->contains(k)) return 0;
        p = &(*p)[k];
    }
    return p->is_number() ? p->get<double>() : 0;
}

bool usable(const StudyRun& r) { return r.failure.empty() && r.run.is_object(); }

// Backends present in every usable run, in the order of the first.
std::vector<std::string> backends_of(const std::vector<StudyRun>& runs) {
    std::vector<std::string> names;
    for (auto& r : runs)
        if (usable(r)) {
            for (auto& [k, v] : r.run["backends"].items()) names.push_back(k);
            break;
        }
    return names;
}

ojson point_json(const StudyRun& r, const std::vector<std::string>& backends,
                 const StudyHost& host) {
    ojson p;
    p["sessions"] = r.sessions;
    p["status"] = usable(r) ? "ok" : "failed";
    if (!r.failure.empty()) p["failure"] = r.failure;
    p["run_file"] = r.run_file;
    if (!usable(r)) return p;
    const nlohmann::json& g = r.run["guest"];
    uint64_t actions = run_actions(r.run);
    p["actions"] = actions;
    p["checksum"] = r.run["workload"]["checksum"];
    p["guest"] = {{"instructions", g.value("instructions", uint64_t{0})},
                  {"context_switches", g.value("context_switches", uint64_t{0})},
                  {"page_faults", g.value("page_faults", uint64_t{0})},
                  {"syscalls", g.value("syscalls", uint64_t{0})}};
    ojson bs = ojson::object();
    for (auto& name : backends) {
        const nlohmann::json& b = r.run["backends"][name];
        double total = num(b, {"cycles", "total"});
        double cpa = actions ? total / double(actions) : 0;
        HostModel hm = host_model(host, name);
        ojson bj;
        bj["cycles"] = b["cycles"];
        bj["cycles_per_action"] = cpa;
        bj["exits"] = num(b, {"exits", "total"});
        bj["exits_per_action"] = actions ? num(b, {"exits", "total"}) / double(actions) : 0;
        bj["walk_refs_per_walk"] = num(b, {"walks", "refs_per_walk"});
        bj["stlb_misses"] = num(b, {"tlb", "stlb_misses"});
        // Share of the whole host (all cores) these K sessions need.
        bj["host_cpu_share"] =
            double(r.sessions) * hm.actions_per_sec * cpa / (hm.cores * hm.ghz * 1e9);
        bs[name] = bj;
    }
    p["backends"] = bs;
    return p;
}

} // namespace

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

ojson study_json(const std::vector<StudyRun>& runs, const StudyHost& host, const ojson& config,
                 bool interrupted, double wall_seconds) {
    auto backends = backends_of(runs);
    ojson j;
    j["schema"] = "vmmu.study.scaling/1";
    size_t ok = std::count_if(runs.begin(), runs.end(), usable);
    j["status"] = interrupted ? "interrupted" : ok == runs.size() ? "ok" : "partial";
    j["config"] = config;
    ojson model;
    model["formula"] =
        "K * actions_per_sec * cycles_per_action(K) <= utilisation * cores * ghz * 1e9";
    model["interpolation"] = "cycles_per_action linear in K between measured K; held at the "
                             "nearest measured value outside them (extrapolated: true)";
    model["cores"] = {{"value", host.cores}, {"source", kCoresSource}};
    model["utilisation"] = {{"value", host.utilisation}, {"source", kUtilisationSource}};
    model["actions_per_sec"] = {{"value", host.actions_per_sec}, {"source", kActionsSource}};
    ojson ghz = ojson::object();
    for (auto& name : backends) ghz[name] = host_model(host, name).ghz;
    model["ghz"] = {
        {"per_backend", ghz},
        {"source", host.ghz_override > 0 ? "--ghz" : "each backend's CPU profile core_ghz"}};
    j["capacity_model"] = model;

    ojson points = ojson::array();
    for (auto& r : runs) points.push_back(point_json(r, backends, host));
    j["points"] = points;

    ojson capacity = ojson::object();
    for (auto& name : backends) {
        std::vector<ScalingPoint> pts;
        for (auto& r : runs) {
            if (!usable(r)) continue;
            uint64_t actions = run_actions(r.run);
            double total = num(r.run["backends"][name], {"cycles", "total"});
            if (actions > 0 && total > 0) pts.push_back({r.sessions, total / double(actions)});
        }
        ojson c;
        auto pit = host.profile.find(name);
        c["profile"] = pit == host.profile.end() ? "" : pit->second;
        c["ghz"] = host_model(host, name).ghz;
        if (pts.empty()) {
            c["sessions"] = nullptr;
            c["note"] = "no usable run";
        } else {
            Capacity cap = sustainable_sessions(pts, host_model(host, name));
            c["sessions"] = cap.sessions;
            c["crossing"] = cap.crossing;
            c["extrapolated"] = cap.extrapolated;
            c["measured_k"] = ojson::array();
            for (auto& p : pts) c["measured_k"].push_back(p.sessions);
        }
        capacity[name] = c;
    }
    j["capacity"] = capacity;

    ojson ratio;
    ratio["published_band"] = {kPublishedLow, kPublishedHigh};
    ratio["source"] = kPublishedSource;
    auto sessions_of = [&](const char* n) -> double {
        if (!capacity.contains(n) || !capacity[n]["sessions"].is_number()) return -1;
        return capacity[n].value("crossing", 0.0);
    };
    double sl = sessions_of("slat"), sh = sessions_of("shadow");
    if (sl >= 0 && sh > 0) {
        double r = sl / sh;
        ratio["slat/shadow"] = r;
        ratio["slat/shadow_whole_sessions"] =
            capacity["shadow"]["sessions"].get<uint64_t>() > 0
                ? double(capacity["slat"]["sessions"].get<uint64_t>()) /
                      double(capacity["shadow"]["sessions"].get<uint64_t>())
                : 0.0;
        ratio["verdict"] = r < kPublishedLow    ? "below band"
                           : r > kPublishedHigh ? "above band"
                                                : "within band";
    } else {
        ratio["slat/shadow"] = nullptr;
        ratio["verdict"] = "not measured";
    }
    j["ratio"] = ratio;

    ojson sim;
    sim["wall_seconds"] = wall_seconds;
    ojson per = ojson::array();
    for (auto& r : runs)
        if (usable(r))
            per.push_back({{"sessions", r.sessions},
                           {"wall_seconds", num(r.run, {"sim", "wall_seconds"})},
                           {"guest_mips", num(r.run, {"sim", "guest_mips"})}});
    sim["runs"] = per;
    j["sim"] = sim;
    return j;
}

} // namespace vmmu
