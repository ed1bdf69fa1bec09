// The scaling study's sensitivity grid: the slat/shadow ratio of sustained sessions over the
// study's uncertain assumptions — work per application launch (burst_updates), working set
// (ws_mib), think time (think_ticks) and actions per second per user (the capacity model's A) —
// so that a reader sees where in that space the published 1.6-2.5x band lies. Each grid point is
// one run of the sessions workload at one K (the ratio flattens beyond K = 8: results/
// VALIDATION.md), with the study's other flags and its shadow and slat backends only; A needs no
// run of its own.
#pragma once

#include "engine/experiment/run.h"
#include "engine/experiment/study.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vmmu {

struct SensitivityAxes {
    uint64_t sessions = 8;
    // Each axis brackets the study's value (kStudyParams: burst_updates=5000, ws_mib=1; the
    // workload's think_ticks=5; A = 10) by a factor of about 4 (ws_mib: the study's 1 MiB is the
    // axis' low end, 4 MiB its high). Think time has two values only: idle ticks cost no cycles
    // in the capacity model, so it moves the ratio only through the interleaving of sessions.
    std::vector<uint64_t> burst_updates = {1250, 5000, 20000};
    std::vector<uint64_t> ws_mib = {1, 2, 4};
    std::vector<uint64_t> think_ticks = {1, 20};
    std::vector<double> actions_per_sec = {5, 10, 20};
};

struct SensitivityPoint {
    uint64_t burst_updates = 0, ws_mib = 0, think_ticks = 0;
    double actions_per_sec = 0;
    std::optional<double> ratio; // slat/shadow sustained sessions; empty if not measured
    double shadow_sessions = 0, slat_sessions = 0;
    std::string verdict; // as the study's: below band, within band, above band
    std::string failure; // why the point has no ratio ("" if it has one)
};

struct SensitivityGrid {
    SensitivityAxes axes;
    std::vector<SensitivityPoint> points; // burst_updates-major, then ws_mib, think_ticks, A
    size_t measured = 0, in_band = 0;
    bool interrupted = false;
    int signal = 0;
};

// Runs the grid's runs (children, `jobs` at a time), each with `base`'s flags and the point's
// parameters, and computes the ratio at each point with `host` and the point's A.
SensitivityGrid run_sensitivity(const RunOptions& base, const StudyHost& host,
                                const RunDocument& document, unsigned jobs,
                                const std::function<void(size_t done, size_t total)>& progress);

} // namespace vmmu
