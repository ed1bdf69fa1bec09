// `vmmu export csv`: vmmu documents flattened into one tidy table for pandas, R and spreadsheets:
// one row per run x VM x backend x window, one column per counter.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace vmmu {

struct CsvInput {
    std::string file;           // as given, for the `file` column
    nlohmann::ordered_json doc; // vmmu.run/1, vmmu.multi/1, vmmu.sweep/1, vmmu.study.*/1
};

// The leading columns; every other column is a counter ("walks.refs", "guest.instructions").
// The run's setting columns (hypervisor .. measured_window) hold each document's value, the default
// written out where the document leaves a default unwritten, or empty where the document does not
// say (a study point made under settings its document does not record).
inline const std::vector<std::string> kCsvKeyColumns = {
    "file",       "schema",       "run",        "vm",     "window", "backend",        "profile",
    "hypervisor", "guest_levels", "ept_levels", "caches", "vcpus",  "measured_window"};

// Throws std::invalid_argument naming a document of a schema it cannot flatten.
std::string tidy_csv(const std::vector<CsvInput>& inputs);

} // namespace vmmu
