// Scenario files: one `vmmu run` described in JSON, for CI jobs and hand-edited experiments.
//
//   {
//     "schema": "vmmu.scenario/1",             optional; if present, exactly this
//     "workload": "gups",                      required: a workload from `vmmu list`
//     "params": {"table_mib": 64},             optional: workload parameters, whole numbers >= 0
//     "profile": "nehalem-2009",               optional: CPU profile name, or a .json path
//     "backends": ["native", "slat"],          optional: MMU schemes; [] attaches none
//     "flags": {"guest-mib": 512, "pwc": false, "shadow-opt": ["unsync=off"]}
//                                              optional: any other `vmmu run` flag, without its
//                                              dashes; true/false mean on/off, a list repeats it
//     "dedup": {"period": 1000000, "pages": 1000}
//                                              optional: host memory deduplication (`--dedup`);
//                                              true/false, or an object (turns it on) with the
//                                              scanner's period and pages per pass, each >= 1
//   }
//
// `vmmu run --scenario FILE [--json OUT] [--quiet]` runs it; the run's own settings belong in the
// file, so giving them on the command line as well is an error. Parsing is strict: unknown keys,
// wrong types and bad values are rejected with their key path ("scenario s.json: flags.pwc: ...").
// Relative "kernel" and "program" paths are taken from the scenario file's directory.
#pragma once

#include "engine/experiment/run.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace vmmu {

// Throws std::invalid_argument "scenario ORIGIN: PATH: PROBLEM" (exit 2).
[[noreturn]] void fail_scenario(const std::string& origin, const std::string& path,
                                const std::string& problem);

// The `vmmu run` arguments a scenario stands for. Checks structure, types and flag values only
// (no file look-ups); throws std::invalid_argument("scenario ORIGIN: key.path: problem").
std::vector<std::string> scenario_args(const nlohmann::json& j, const std::string& origin);

// Reads FILE and checks everything a run would: syntax (with the position), structure, and the
// workload, parameters, backends and profile it names. A bare NAME that is not a file here is
// looked up as DATA/scenarios/NAME[.json] (the shipped scenarios, engine/experiment/paths.h).
RunOptions load_scenario(const std::filesystem::path& file);

// For `vmmu run --scenario`: rejects run settings also given on the command line `run`.
void check_scenario_alone(const CLI::App& run);
// --vms-file likewise: the file gives every VM its flags; only --json, --quiet and --quantum
// (and --vms, rejected with its own message) may come with it.
void check_vms_file_alone(const CLI::App& run);

} // namespace vmmu
