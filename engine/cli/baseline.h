// The regression suite: results/baselines/suite.json (a vmmu.sweep-spec/1 grid) and the committed
// vmmu.run/1 JSON of each of its runs in results/baselines/runs/. `check` reruns the suite and
// compares every deterministic value with the committed one; `update` rewrites them on purpose.
#pragma once

#include "engine/cli/report_outputs.h"

#include <filesystem>
#include <string>

namespace vmmu {

struct BaselineArgs {
    std::string dir;      // default: the nearest results/baselines with a suite.json
    unsigned jobs = 0;    // default: every local core
    double tolerance = 0; // percent (check only)
    bool keep = false;    // keep the new results even when the check passes
    bool no_progress = false;
    ReportOutputs report; // check: --format and --output
    Exports exports;      // check: --export FORMAT FILE (the new results)
    PolicyFlags policy;   // check: --floor, --regressions-only, --tolerance-for, --ignore, ...
};

// Finds the baseline directory: `dir` if given, else results/baselines above the current
// directory or the executable. Throws std::invalid_argument saying where it looked.
std::filesystem::path baseline_dir(const std::string& dir);

// Exit codes: 0 ok; 2 bad suite or directory; 128 + a signal when interrupted; check: 5 when a
// value moved or a suite run failed or wrote no JSON; update: 1 when a suite run failed (the
// baselines are left as they were).
int baseline_update(const BaselineArgs& a);
int baseline_check(const BaselineArgs& a);

} // namespace vmmu
