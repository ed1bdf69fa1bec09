// Windows and intervals as JSON (the `windows` and `intervals` of vmmu.run/1) and the line the
// table prints to say which window it shows (engine/experiment/windows.h).
#pragma once

#include "engine/experiment/run.h"

#include <nlohmann/json.hpp>

#include <string>

namespace vmmu {

// The guest's counters over a span (the keys of the document's `guest`, without `reported`);
// `smp` (several vCPUs) adds the IPIs sent and received.
nlohmann::ordered_json span_guest_json(const GuestCounters& g, bool smp = false);
// Several vCPUs: a span split by vCPU (SpanCounters::vcpus) as `guest.vcpus`, and backend
// `backend`'s share as `backends.NAME.vcpus` (counts only: no largest walk, no Hyper-V gauge).
nlohmann::ordered_json vcpus_guest_json(const std::vector<SpanCounters>& vcpus);
nlohmann::ordered_json vcpus_backend_json(const std::vector<SpanCounters>& vcpus, size_t backend);
// Cycle ratios between backends, as the document's `comparison`.
nlohmann::ordered_json comparison_json(const std::vector<BackendResult>& backends);
// `windows`: per window name, its repeats, instruction span, guest and backend counters.
nlohmann::ordered_json windows_json(const RunOutput& out);
// `intervals`: the period and one point per slice (null without --interval).
nlohmann::ordered_json intervals_json(const RunOutput& out);
// "window roi: regions kernel x1; 1234 of 5678 instructions (21.7 %) after 0 of warm-up"
std::string window_line(const RunOutput& out);

} // namespace vmmu
