// The scaling study (`vmmu study scaling`): the `sessions` workload run at several K, turned into
// sustainable sessions per backend by the capacity model (capacity.h). This part is pure: it
// reads finished vmmu.run/1 documents and computes each backend's capacity and the slat/shadow
// ratio (scaling_study.h runs the study; engine/output/study_report.h writes its
// vmmu.study.scaling/1 document and prints it).
#pragma once

#include "engine/experiment/capacity.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace vmmu {

struct RunOutput;
// How a study writes a run: the vmmu.run/1 document (engine/output/run_report.h, a layer above).
using RunDocument = std::function<nlohmann::ordered_json(const RunOutput&)>;

// Per-session work of the default study and of `vmmu validate`'s sessions check, scaled down
// from the workload's defaults so that K = 1..64 runs in under two minutes on two cores: half the
// working set and half the updates per burst (the same updates per page), two launches per
// session instead of four. The same at every K, so cycles per action compare across K.
inline const std::vector<std::string> kStudyParams = {"actions=2", "ws_mib=1",
                                                      "burst_updates=5000"};

// The host the sessions run on, with where each number comes from.
struct StudyHost {
    double cores = 4;
    double utilisation = 0.8;
    double actions_per_sec = 10;
    double ghz_override = 0;                    // 0: each backend's profile core_ghz
    std::map<std::string, double> profile_ghz;  // backend -> its profile's core_ghz
    std::map<std::string, std::string> profile; // backend -> profile name
};

// Sources of the capacity-model constants (printed in the JSON and the README).
extern const char* const kCoresSource;
extern const char* const kUtilisationSource;
extern const char* const kActionsSource;
// The published band the slat/shadow ratio is set beside (docs/ANCHORS.md).
constexpr double kPublishedLow = 1.6, kPublishedHigh = 2.5;
extern const char* const kPublishedSource;

// One finished (or failed) run of the study.
struct StudyRun {
    uint64_t sessions = 0;
    std::string run_file; // where its vmmu.run/1 JSON was written ("" if not kept)
    nlohmann::json run;   // the vmmu.run/1 document (null if the run did not finish)
    std::string failure;  // why it has no usable figures ("" if ok)
};

// A run that finished with usable figures.
bool run_usable(const StudyRun& r);

// The number at `path` in a run document, 0 if it is missing or not a number.
double run_number(const nlohmann::json& run, std::initializer_list<const char*> path);

// The backends of the window a run measured (its measured_window, README.md "Windows"); the
// top-level backends for a document without windows.
const nlohmann::json& measured_backends(const nlohmann::json& run);

// Session-actions a run performed: the guest's own count ("sessions.apps").
uint64_t run_actions(const nlohmann::json& run);

// Host model of one backend: the study's host with that backend's clock.
HostModel host_model(const StudyHost& host, const std::string& backend);

// Backends present in every usable run, in the order of the first.
std::vector<std::string> study_backends(const std::vector<StudyRun>& runs);

// "ok" (every run usable), "partial", or "interrupted" (stopped before every K ran).
std::string study_status(const std::vector<StudyRun>& runs, bool interrupted);

// One backend's capacity over the usable runs.
struct BackendCapacity {
    std::string name;
    std::string profile; // "" if the host names none
    double ghz = 0;
    std::vector<ScalingPoint> points; // usable runs with actions and cycles
    Capacity capacity;                // meaningful only when points is non-empty
};

// slat/shadow sustained sessions, set beside the published band.
struct StudyRatio {
    bool measured = false; // both backends have a capacity and shadow's crossing is > 0
    double slat_over_shadow = 0;
    double whole_sessions = 0; // of the whole session counts (0 if shadow sustains none)
    const char* verdict = "not measured";
};

struct StudyCapacity {
    std::vector<BackendCapacity> backends; // in study_backends order
    StudyRatio ratio;
    const BackendCapacity* find(const std::string& name) const;
};

StudyCapacity study_capacity(const std::vector<StudyRun>& runs, const StudyHost& host);

} // namespace vmmu
