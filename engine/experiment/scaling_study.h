// Runs the scaling study (`vmmu study scaling`): the sessions workload at each K, one child process
// per run (the process pool, process_pool.h), so Ctrl-C stops at once and the finished runs are
// kept; then the capacity model over the results (study.h). The result is plain data:
// engine/output/study_report.h writes its vmmu.study.scaling/1 document.
#pragma once

#include "engine/experiment/process_pool.h"
#include "engine/experiment/run.h"
#include "engine/experiment/sensitivity.h"
#include "engine/experiment/study.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vmmu {

// The study's K. K sessions need 3K+2 guest processes (init, top, and per session a login,
// an application and its helper); the teaching kernel has NPROC = 256 slots
// (workloads/kernel/kernel.h), so K is at most 84.
inline constexpr const char* kDefaultSessions = "1,2,4,8,16,32,64";
inline constexpr uint64_t kMaxSessions = (256 - 2) / 3;

// "1,2,4" -> {1, 2, 4}, sorted and without repeats; throws std::invalid_argument naming the flag.
std::vector<uint64_t> parse_sessions(const std::string& sessions);

struct ScalingOptions {
    RunOptions base; // the run flags (workload must be sessions)
    std::string sessions = kDefaultSessions;
    std::string shadow_profile, slat_profile;
    bool original_hardware = false;
    // The seeds' own pair: shadow = Hyper-V 2008's VTLB with an enlightened guest on
    // penryn-2008, slat = Hyper-V 2008 R2 on nehalem-2009 (--hypervisor hyperv for both).
    bool hyperv_2008_vs_r2 = false;
    // Also run the sensitivity grid (sensitivity.h); the Hyper-V preset always does.
    bool sensitivity = false;
    StudyHost host;
    double ghz = 0;
    unsigned jobs = 1;
    std::string out_dir; // "": the runs go to a temporary directory and are removed
};

// Where a backend's profile came from: a shipped one by name, or a file (its path and an FNV-1a
// hash of its bytes), so a file that calls itself "nehalem-2009" is not mistaken for it.
struct ProfileSource {
    std::string backend;
    std::string name; // the profile's own name
    bool file = false;
    std::string path;    // absolute, with file
    std::string fnv1a64; // 16 hex digits, with file
};

// How the study's runs were made.
struct ScalingConfig {
    std::vector<uint64_t> sessions;             // the K, sorted
    RunOptions base;                            // every run's flags but sessions=K
    std::vector<ProfileSource> profile_sources; // in base.backends order
    std::string preset;                         // "hyperv-2008-vs-r2" or ""
};

inline constexpr const char* kHypervPreset = "hyperv-2008-vs-r2";

struct ScalingStudy {
    std::vector<StudyRun> runs; // one per K, in K order
    StudyHost host;             // with each backend's profile and clock
    ScalingConfig config;
    std::string status;  // study_status: ok, partial or interrupted
    size_t finished = 0; // runs that finished before any interrupt
    double wall_seconds = 0;
    bool interrupted = false;
    int signal = 0; // the signal that interrupted it (SIGINT, SIGTERM, SIGHUP), 0 if none
    std::optional<SensitivityGrid> sensitivity; // with --sensitivity or the Hyper-V preset
};

// One run of a study in a child process: its vmmu.run/1 JSON written to `path` (a reason beside
// it, `path`.err, if it could not run); and, in the parent, that file read back into `r`.
int run_study_child(const RunOptions& o, const std::filesystem::path& path,
                    const RunDocument& document);
void collect_study_run(StudyRun& r, const std::filesystem::path& path, const ChildStatus& status);

// Called while the runs go: how many finished of how many, and the K still running.
using ScalingProgress =
    std::function<void(size_t done, size_t total, const std::vector<uint64_t>& running)>;

// Checks everything a run would reject first (std::invalid_argument, before any run starts).
ScalingStudy run_scaling_study(const ScalingOptions& options, const RunDocument& document,
                               const ScalingProgress& progress);

} // namespace vmmu
