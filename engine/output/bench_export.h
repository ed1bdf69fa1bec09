// Runs as benchmark-dashboard documents: Google Benchmark JSON (read by its tools/compare.py and
// by github-action-benchmark's `googlecpp` tool) and Bencher Metric Format. One benchmark per
// run x backend; modelled time (cycles / the profile's core_ghz, in ns) is the benchmark's time,
// every counter a user counter (gbench) or a measure (BMF).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace vmmu {

struct ExportRun {
    std::string name;           // "forkwait.n=40.nehalem-2009"
    nlohmann::ordered_json doc; // a vmmu.run/1 document
};

enum class ExportFormat { Gbench, Bmf };
// "gbench", "bmf"; throws std::invalid_argument naming the choices.
ExportFormat parse_export_format(const std::string& name);

// A run's name as a sweep would give it: workload, parameters, profile.
std::string export_run_name(const nlohmann::ordered_json& run_doc);

// Every numeric leaf of one backend's block, by dotted path ("walks.refs",
// "exits.by_reason.pt_write", "cycles.total"), plus the guest's instruction count.
std::vector<std::pair<std::string, double>> export_counters(const nlohmann::ordered_json& run_doc,
                                                            const std::string& backend);

// Throws std::invalid_argument when a document cannot be exported (not a run, no clock).
std::string gbench_json(const std::vector<ExportRun>& runs, const std::string& date,
                        const std::string& host);
std::string bmf_json(const std::vector<ExportRun>& runs);
std::string export_document(const std::vector<ExportRun>& runs, ExportFormat f);

} // namespace vmmu
