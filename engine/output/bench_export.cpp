#include "engine/output/bench_export.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {

void numeric_leaves(const ojson& j, const std::string& path,
                    std::vector<std::pair<std::string, double>>& out) {
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it)
            numeric_leaves(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
    } else if (j.is_number()) {
        out.emplace_back(path, j.get<double>());
    }
}

void require_run(const ExportRun& r) {
    if (!r.doc.is_object() || r.doc.value("schema", "") != "vmmu.run/1")
        throw std::invalid_argument(
            fmt::format("cannot export '{}': only vmmu.run/1 documents are exported", r.name));
}

// The benchmark's time: modelled cycles at the profile's clock, in ns.
double modelled_ns(const ExportRun& r, const std::string& backend, double cycles) {
    const ojson* ghz = nullptr;
    if (r.doc.contains("provenance") && r.doc["provenance"].contains("config") &&
        r.doc["provenance"]["config"].contains("core_ghz"))
        ghz = &r.doc["provenance"]["config"]["core_ghz"];
    if (!ghz || !ghz->contains(backend) || !(*ghz)[backend].is_number() ||
        (*ghz)[backend].get<double>() <= 0)
        throw std::invalid_argument(fmt::format(
            "cannot export '{}': its provenance has no core_ghz for {} (written by an older "
            "vmmu: rerun it)",
            r.name, backend));
    return cycles / (*ghz)[backend].get<double>();
}

} // namespace

ExportFormat parse_export_format(const std::string& name) {
    if (name == "gbench") return ExportFormat::Gbench;
    if (name == "bmf") return ExportFormat::Bmf;
    throw std::invalid_argument(fmt::format(
        "--export '{}': valid formats are gbench (Google Benchmark JSON) and bmf (Bencher "
        "Metric Format); write --export FORMAT FILE",
        name));
}

std::string export_run_name(const ojson& doc) {
    std::string name = doc["workload"].value("name", "run");
    if (doc["workload"].contains("params"))
        for (auto it = doc["workload"]["params"].begin(); it != doc["workload"]["params"].end();
             ++it)
            name += fmt::format(".{}={}", it.key(), it.value().dump());
    if (doc.contains("config") && doc["config"].contains("profile"))
        name += "." + doc["config"]["profile"].get<std::string>();
    return name;
}

std::vector<std::pair<std::string, double>> export_counters(const ojson& doc,
                                                            const std::string& backend) {
    std::vector<std::pair<std::string, double>> out;
    if (doc.contains("guest") && doc["guest"].contains("instructions"))
        out.emplace_back("guest.instructions", doc["guest"]["instructions"].get<double>());
    numeric_leaves(doc["backends"][backend], "", out);
    return out;
}

std::string gbench_json(const std::vector<ExportRun>& runs, const std::string& date,
                        const std::string& host) {
    ojson ctx;
    ctx["date"] = date;
    ctx["host_name"] = host;
    ctx["executable"] = "vmmu";
    ctx["num_cpus"] = std::max(1u, std::thread::hardware_concurrency());
    ctx["mhz_per_cpu"] = 0;
    ctx["cpu_scaling_enabled"] = false;
    ctx["caches"] = ojson::array();
    ctx["library_build_type"] = "release";
    ctx["time_basis"] = "modelled: each backend's cycles / its CPU profile's core_ghz; "
                        "deterministic, not host time";
    if (!runs.empty() && runs.front().doc.contains("provenance"))
        ctx["vmmu_version"] = runs.front().doc["provenance"].value("vmmu_version", "");
    ojson benchmarks = ojson::array();
    size_t family = 0;
    for (auto& r : runs) {
        require_run(r);
        for (auto it = r.doc["backends"].begin(); it != r.doc["backends"].end(); ++it) {
            std::string name = r.name + "/" + it.key();
            double ns = modelled_ns(r, it.key(), it.value()["cycles"]["total"].get<double>());
            ojson b = {{"name", name},
                       {"family_index", family++},
                       {"per_family_instance_index", 0},
                       {"run_name", name},
                       {"run_type", "iteration"},
                       {"repetitions", 1},
                       {"repetition_index", 0},
                       {"threads", 1},
                       {"iterations", 1},
                       {"real_time", ns},
                       {"cpu_time", ns},
                       {"time_unit", "ns"}};
            for (auto& [k, v] : export_counters(r.doc, it.key())) b[k] = v;
            benchmarks.push_back(std::move(b));
        }
    }
    return ojson{{"context", ctx}, {"benchmarks", benchmarks}}.dump(2) + "\n";
}

std::string bmf_json(const std::vector<ExportRun>& runs) {
    ojson out = ojson::object();
    for (auto& r : runs) {
        require_run(r);
        for (auto it = r.doc["backends"].begin(); it != r.doc["backends"].end(); ++it) {
            ojson measures = ojson::object();
            for (auto& [k, v] : export_counters(r.doc, it.key())) measures[k] = {{"value", v}};
            measures["modelled_ns"] = {
                {"value", modelled_ns(r, it.key(), it.value()["cycles"]["total"].get<double>())}};
            out[r.name + "/" + it.key()] = std::move(measures);
        }
    }
    return out.dump(2) + "\n";
}

std::string export_document(const std::vector<ExportRun>& runs, ExportFormat f) {
    if (f == ExportFormat::Bmf) return bmf_json(runs);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S+00:00", std::gmtime(&now));
    return gbench_json(runs, stamp, host);
}

} // namespace vmmu
