// The one place a backend's counters become JSON (the `backends.<name>` object of vmmu.run/1).
#pragma once

#include "engine/mmu/counters.h"

#include <nlohmann/json.hpp>

namespace vmmu {

// Keys, in order: tlb, walks, caches, exits, details, cycles (see results/schema/).
nlohmann::ordered_json backend_json(const BackendCounters& c, const CycleBreakdown& cycles);
// The "caches" object: {"modelled": false}, or where walk references and data accesses were
// served (l1, l2, llc, memory), per dimension, walk cycles per walk, pollution.
nlohmann::ordered_json caches_json(const BackendCounters& c, const CycleBreakdown& cycles);

} // namespace vmmu
