// The `provenance` block every vmmu JSON document carries (engine/experiment/provenance.h).
#pragma once

#include "engine/experiment/provenance.h"
#include "engine/experiment/run.h"

#include <nlohmann/json.hpp>

namespace vmmu {

// {"vmmu": ..., "unicorn": ..., "capstone": ..., "inputs": {...}, "set": [...], "config": ...}
nlohmann::ordered_json provenance_json(const Provenance& p,
                                       const nlohmann::ordered_json& config = nullptr);
// Every option of a run with its defaults filled in (the workload's parameters resolved, each
// backend's profile named): what `vmmu run` would need to reproduce it.
nlohmann::ordered_json resolved_config(const RunOutput& out);
// Inserts `provenance` before the document's `sim` block (sim stays last).
void add_provenance(nlohmann::ordered_json& doc, nlohmann::ordered_json provenance);

} // namespace vmmu
