// Compares two vmmu JSON documents (a run, or a merged sweep) value by value: every number,
// string and flag outside the wall-clock `sim` blocks, which are the only non-deterministic part.
#pragma once

#include "engine/experiment/provenance.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vmmu {

struct ValueChange {
    std::string path;                 // "backends.slat.walks.refs", "runs.gups.guest.instructions"
    std::string old_value, new_value; // as JSON text; "(absent)" when missing on one side
    std::optional<double> delta_pct;  // numbers only; +inf when old is 0
    bool beyond = false;              // moved by more than the tolerance
    bool improvement = false;         // beyond the tolerance, but the good way (--regressions-only)
};

// How far a value may move before it counts (`--tolerance`, `--floor`, `--regressions-only`,
// `--tolerance-for`, `--ignore`, `--tolerance-file`). Patterns are shell globs over a value's
// path ("*.exits.*", "backends.slat.walks.refs"); the last pattern that matches wins.
struct ComparePolicy {
    double tolerance_pct = 0; // percent of the old value
    double floor = 0;         // an absolute move up to this never counts (0 -> 1 with floor 1)
    bool regressions_only = false;
    std::vector<std::pair<std::string, double>> tolerances; // pattern -> percent
    std::vector<std::string> ignore;                        // patterns never compared
    double tolerance_for(const std::string& path) const;
    bool ignored(const std::string& path) const;
    // +1 when a larger value is worse (cycles, exits, misses, walk references, flushes), -1 when
    // it is better (page-walk-cache and nested-TLB hits), 0 when neither (judged both ways).
    static int worse_direction(const std::string& path);
};

// Reads a tolerance file (vmmu.tolerance/1): {"schema": "vmmu.tolerance/1", "tolerance": PCT,
// "floor": N, "regressions_only": BOOL, "counters": {PATTERN: PCT}, "ignore": [PATTERN]}, every
// key optional. Throws std::invalid_argument naming the file and the bad key.
ComparePolicy load_tolerance_file(const std::filesystem::path& path);

struct CompareResult {
    uint64_t compared = 0;          // leaves looked at (union of both sides)
    uint64_t ignored = 0;           // leaves an --ignore pattern left out
    std::vector<std::string> paths; // each of them, in comparison order
    std::vector<ValueChange> changes;
    uint64_t beyond() const;
};

// One pair of documents in a comparison (a file, a directory entry, a baseline suite run). A pair
// that could not be compared (only on one side, a run that wrote nothing) carries a problem.
struct FileComparison {
    std::string name;      // the run or file name the formats show
    std::string base, now; // the two paths (either may be empty with a problem)
    CompareResult result;
    std::string problem;                          // empty when the two were compared
    std::vector<ProvenanceDifference> provenance; // what produced the two documents differs
    bool failed() const { return !problem.empty() || result.beyond() > 0; }
    // A provenance difference beyond vmmu's own version (an input, a library, an override).
    bool inputs_differ() const;
};

// Everything a comparison found, in the order it found it; engine/output/compare_report.h turns
// it into text, Markdown, JUnit XML or JSON.
struct ComparisonReport {
    enum class Kind { Files, Directories, Baseline } kind = Kind::Files;
    std::string base, now; // what was compared (files, directories, suite and baselines)
    double tolerance_pct = 0;
    std::vector<FileComparison> files;
    uint64_t runs = 0;       // baseline: runs of the suite
    std::string kept;        // baseline: where the new results were kept (empty when removed)
    std::string update_hint; // baseline: the command that regenerates the baselines
    uint64_t compared() const;
    uint64_t beyond() const;        // values beyond the tolerance, plus one per problem
    bool strict_provenance = false; // --strict-provenance: differing inputs fail the comparison
    uint64_t failed_files() const;
    bool provenance_failed() const; // strict, and some file's inputs differ
    bool failed() const { return failed_files() > 0 || provenance_failed(); }
};

// Walks both documents; numbers move "beyond" when |delta %| > tolerance_pct, anything else
// (strings, booleans, null, a value present on one side only) whenever it differs.
CompareResult compare_json(const nlohmann::json& base, const nlohmann::json& now,
                           double tolerance_pct);
CompareResult compare_json(const nlohmann::json& base, const nlohmann::json& now,
                           const ComparePolicy& policy);

// Reads a vmmu JSON document; throws std::invalid_argument naming the file and the problem.
nlohmann::json read_vmmu_json(const std::filesystem::path& path);

// Throws std::invalid_argument unless the two documents share one "schema" (a run against a
// sweep is not a comparison of values).
void require_same_schema(const nlohmann::json& base, const nlohmann::json& now,
                         const std::string& base_name, const std::string& new_name);

// Throws std::invalid_argument unless pct is a finite percentage >= 0.
void check_tolerance(double pct);

// The exit status of a comparison that found values beyond the tolerance: distinct from 1
// (internal error) and from 2 (bad input), so CI can tell a regression from a crash.
constexpr int kExitValuesMoved = 5;

// The change table: engine/output/compare_report.h.

} // namespace vmmu
