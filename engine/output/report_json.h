// The one place a backend's counters become JSON (the `backends.<name>` object of vmmu.run/1).
#pragma once

#include "engine/mmu/counters.h"

#include <nlohmann/json.hpp>

namespace vmmu {

// Keys, in order: tlb, walks, exits, details, cycles (see results/schema/).
nlohmann::ordered_json backend_json(const BackendCounters& c, const CycleBreakdown& cycles);

} // namespace vmmu
