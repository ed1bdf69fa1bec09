// A run as `vmmu.run/1` JSON and as the side-by-side text table.
#pragma once

#include "engine/experiment/run.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace vmmu {

nlohmann::ordered_json run_json(const RunOutput& out);
// The "dedup" block of vmmu.run/1 and vmmu.multi/1, and its lines in the text tables.
nlohmann::ordered_json dedup_json(const DedupResult& d);
std::string dedup_table(const DedupResult& d, const std::vector<BackendResult>& backends);
std::string run_table(const RunOutput& out);

} // namespace vmmu
