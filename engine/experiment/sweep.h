// Runs a list of sweep runs as child `vmmu run` processes, `jobs` at a time (the process pool,
// process_pool.h), each writing its own vmmu.run/1 JSON; then merges them into one vmmu.sweep/1
// document. Each run's JSON is byte-for-byte what `vmmu run --json` writes.
#pragma once

#include "engine/experiment/sweep_spec.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
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
    // Called as each run finishes, with the runs finished and still running (a progress bar).
    std::function<void(const SweepOutcome&, size_t done, size_t running)> on_finished;
};

// Runs every run; returns the outcomes in the order of `runs`. After SIGINT, SIGTERM or SIGHUP
// (the pool's InterruptGuard) starts no more runs and passes SIGTERM to the running ones; a
// sweep killed outright takes its runs with it, which still write their (incomplete) JSON.
std::vector<SweepOutcome> run_sweep(const std::vector<SweepRun>& runs, const SweepConfig& config);

// The merged document: every run's JSON under "runs"/<name>, a run without JSON as null with
// its "error". Throws std::invalid_argument naming a run JSON that cannot be read.
nlohmann::ordered_json merge_sweep(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                                   const std::filesystem::path& runs_dir, Shard shard,
                                   double wall_seconds, unsigned jobs);

// The number of local cores (at least 1).
unsigned default_jobs();

} // namespace vmmu
