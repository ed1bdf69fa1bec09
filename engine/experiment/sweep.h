// Runs a list of sweep runs as child `vmmu run` processes, `jobs` at a time, with a progress bar on
// stderr, each writing its own vmmu.run/1 JSON; then merges them into one vmmu.sweep/1 document.
// Processes rather than threads: a guest that crashes the emulator takes down one run, not the
// sweep, and each run's JSON is byte-for-byte what `vmmu run --json` writes.
#pragma once

#include "engine/experiment/sweep_spec.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace vmmu {

struct SweepOutcome {
    std::string name;
    int exit_code = 0;   // of `vmmu run`: 0 ok, 3 guest error, 4 oracle mismatch, 2 bad flags...
    double seconds = 0;  // wall clock (progress and `sim` only)
    bool started = true; // false: the sweep was interrupted before this run began
};

struct SweepConfig {
    unsigned jobs = 1;
    std::filesystem::path runs_dir; // <name>.json
    std::filesystem::path logs_dir; // <name>.log: the run's console and messages
    bool progress = true;
};

// Set in each run's environment to the sweep's pid: the run asks the kernel for SIGTERM when its
// parent dies (follow_sweep_parent), so no run outlives a sweep killed by SIGKILL or a crash.
inline constexpr const char* kSweepParentEnv = "VMMU_SWEEP_PARENT";
void follow_sweep_parent();

// Runs every run; returns the outcomes in the order of `runs`. Once stop_requested() (a signal
// under an InterruptGuard), starts no more runs and passes SIGTERM to the running ones.
std::vector<SweepOutcome> run_sweep(const std::vector<SweepRun>& runs, const SweepConfig& config);

// The merged document: every run's JSON under "runs"/<name>, a run without JSON as null with
// its "error". Throws std::invalid_argument naming a run JSON that cannot be read.
nlohmann::ordered_json merge_sweep(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                                   const std::filesystem::path& runs_dir, Shard shard,
                                   double wall_seconds, unsigned jobs);

// The number of local cores (at least 1).
unsigned default_jobs();

} // namespace vmmu
